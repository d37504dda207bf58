"""The launcher: one shim host for its starts, concurrent starts, the host outliving it."""

from __future__ import annotations

import os
import signal
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from shimbox import Root, gone

from wharf.shim import client


def test_concurrent_starts_each_get_their_answer(root: Root) -> None:
    bundles = [root.make(["sh", "-c", f"echo {i}"]) for i in range(4)]
    bad = root.make(["/nope"])
    launcher = client.Launcher(str(root.path))
    try:
        with ThreadPoolExecutor(5) as pool:
            answers = list(pool.map(lambda b: launcher.start(str(b.path), b.opts), [*bundles, bad]))
    finally:
        launcher.close()
    assert len({a["shim_pid"] for a in answers}) == 1  # one host serves them all
    for b, answer in zip(bundles, answers):
        assert answer["pid"] > 0 and answer["shim_pid"] > 0
        assert gone(answer["shim_pid"])
        assert client.wait(str(b.path))["exit_code"] == 0
        assert [r["log"] for r in b.log()] == [f"{bundles.index(b)}\n"]
    assert answers[-1]["kind"] == "not_found" and 'exec: "/nope"' in answers[-1]["error"]
    assert client.read_exit(str(bad.path))["exit_code"] == 127


def test_bundle_outside_the_root_is_refused(root: Root, tmp_path: Path) -> None:
    launcher = client.Launcher(str(root.path))
    try:
        answer = launcher.start(str(tmp_path), {})
    finally:
        launcher.close()
    assert answer["shim_pid"] is None and "not a directory under" in answer["error"]


def test_killing_the_launcher_leaves_the_host_and_containers_running(root: Root) -> None:
    b = root.make(["sh", "-c", "read x; echo after:$x; exit 4"], open_stdin=True)
    launcher = client.Launcher(str(root.path))
    answer = launcher.start(str(b.path), b.opts)
    os.kill(launcher.proc.pid, signal.SIGKILL)
    launcher.proc.wait()
    launcher.close()
    assert os.getppid() != answer["shim_pid"]
    assert client.state(str(b.path)) == {"pid": answer["pid"], "status": "running"}
    sock = client.attach(str(b.path), stdin=True, stdout=True, stderr=False)
    sock.sendall(b"still-here\n")
    assert client.wait(str(b.path))["exit_code"] == 4
    sock.close()
    assert gone(answer["shim_pid"])
    assert [r["log"] for r in b.log()] == ["after:still-here\n"]
