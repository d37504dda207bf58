"""The launcher: one shim host for its starts, concurrent starts, the host outliving it,
the start gate."""

from __future__ import annotations

import os
import signal
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from shimbox import Root, gone
from support.polling import eventually

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


def _start_in_thread(launcher: client.Launcher, b: Any) -> tuple[threading.Thread, list[dict[str, Any]]]:
    answers: list[dict[str, Any]] = []

    def start() -> None:
        try:
            answers.append(launcher.start(str(b.path), {**b.opts, "gate": True}))
        except client.ShimError as e:
            answers.append({"error": str(e)})
    thread = threading.Thread(target=start)
    thread.start()
    return thread, answers


def test_a_gated_start_execs_only_when_the_engine_opens_the_gate(root: Root) -> None:
    b = root.make(["sh", "-c", "echo ran"])
    launcher = client.Launcher(str(root.path))
    try:
        thread, answers = _start_in_thread(launcher, b)
        time.sleep(0.5)
        assert not answers and b.log() == []  # set up, waiting before exec
        launcher.open_gate(str(b.path), True)
        thread.join(10)
    finally:
        launcher.close()
    assert answers[0]["pid"] > 0
    assert client.wait(str(b.path))["exit_code"] == 0
    assert [r["log"] for r in b.log()] == ["ran\n"]


def test_a_gate_closed_by_the_engine_or_by_its_death_starts_nothing(root: Root) -> None:
    refused, orphaned = root.make(["sh", "-c", "echo ran"]), root.make(["sh", "-c", "echo ran"])
    launcher = client.Launcher(str(root.path))
    try:
        thread, answers = _start_in_thread(launcher, refused)
        launcher.open_gate(str(refused.path), False)
        thread.join(10)
        assert "cancelled" in answers[0]["error"]
        thread, answers = _start_in_thread(launcher, orphaned)
        time.sleep(0.5)
    finally:
        os.kill(launcher.proc.pid, signal.SIGKILL)  # the daemon's side is gone: EOF to the host
        thread.join(10)
        launcher.close()
    assert "launcher exited" in answers[0]["error"]
    for b in (refused, orphaned):
        assert eventually(lambda: client.read_exit(str(b.path)) is not None)
        assert "cancelled" in client.read_exit(str(b.path))["error"]
        assert b.log() == []
