"""The shim host: one process serving many containers, each through its own shim.sock.

Spawns run in short-lived helpers, so the containers' processes become the
host's children only by reparenting (it is a subreaper); one container's
failure stays its own; a host whose launcher is gone serves its containers
to the end, then exits.
"""

from __future__ import annotations

import json
import os
import resource
import signal
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from shimbox import Root, adopted, gone, remove_cgroups

from wharf.shim import client, frames

SH = {"cwd": "/", "env": ["PATH=/bin"], "user": {"uid": 0, "gid": 0}}


def run_exec(bundle: str, exec_id: str, args: list[str], tty: bool = False) -> tuple[bytes, int]:
    """(output, exit code) of an exec."""
    sock, _ = client.exec_(bundle, exec_id, {**SH, "args": args}, tty=tty, stdin=False)
    with sock:
        got = list(frames.read_frames(sock))
    assert got[-1][0] == frames.CONTROL
    return b"".join(p for s, p in got[:-1]), json.loads(got[-1][1])["exit_code"]


def test_containers_and_execs_are_the_hosts_children(root: Root) -> None:
    bundles = [root.make(["sleep", "60"]) for _ in range(2)]
    launcher = client.Launcher(str(root.path))
    try:
        answers = [launcher.start(str(b.path), b.opts) for b in bundles]
        host = answers[0]["shim_pid"]
        assert {a["shim_pid"] for a in answers} == {host}
        for a in answers:
            assert adopted(a["pid"], host)  # the init, PID 1 of a new pid namespace
        sock, pid = client.exec_(str(bundles[0].path), "s", {**SH, "args": ["sleep", "60"]},
                                 tty=False, stdin=False)
        with sock:
            assert adopted(pid, host)  # an exec, in the init's pid namespace
            os.kill(pid, signal.SIGKILL)
            assert json.loads(list(frames.read_frames(sock))[-1][1]) == {"exit_code": 137}
    finally:
        launcher.close()
    for a in answers:
        os.kill(a["pid"], signal.SIGKILL)
    assert gone(host)


def test_concurrent_execs_each_get_their_exit_code(root: Root) -> None:
    b = root.make(["sleep", "60"])
    launcher = client.Launcher(str(root.path))
    try:
        started = launcher.start(str(b.path), b.opts)
        init = started["pid"]
        with ThreadPoolExecutor(8) as pool:
            results = list(pool.map(
                lambda n: run_exec(str(b.path), f"e{n}", ["sh", "-c", f"echo {n}; exit {n}"]),
                range(16)))
        assert results == [(f"{n}\n".encode(), n) for n in range(16)]
        out, code = run_exec(str(b.path), "t", ["sh", "-c", "tty; exit 3"], tty=True)
        assert out.startswith(b"/dev/pts/") and code == 3
    finally:
        launcher.close()
    os.kill(init, signal.SIGKILL)
    assert client.wait(str(b.path))["exit_code"] == 137
    assert gone(started["shim_pid"])


def test_a_failed_spawn_fails_the_exec_alone(root: Root) -> None:
    b = root.make(["sleep", "60"])
    launcher = client.Launcher(str(root.path))
    try:
        started = launcher.start(str(b.path), b.opts)
        init = started["pid"]
        with pytest.raises(client.ShimError) as e:
            client.exec_(str(b.path), "x", {**SH, "args": ["/nope"]}, tty=False, stdin=False)
        assert e.value.kind == "not_found" and 'exec: "/nope"' in str(e.value)
        assert client.state(str(b.path)) == {"pid": init, "status": "running"}
        assert run_exec(str(b.path), "y", ["true"]) == (b"", 0)
    finally:
        launcher.close()
    os.kill(init, signal.SIGKILL)
    assert client.wait(str(b.path))["exit_code"] == 137
    assert gone(started["shim_pid"])


def test_the_host_lifts_its_fd_limit_but_containers_keep_the_usual_one(root: Root) -> None:
    b = root.make(["sh", "-c", "ulimit -n; read x"], open_stdin=True, tty=True)
    launcher = client.Launcher(str(root.path))
    try:
        answer = launcher.start(str(b.path), b.opts)
        limits = Path(f"/proc/{answer['shim_pid']}/limits").read_text().splitlines()
        soft, hard = next(line for line in limits if line.startswith("Max open files")).split()[3:5]
        assert soft == hard  # a few fds per container: the soft limit would cap the host
        out, code = run_exec(str(b.path), "u", ["sh", "-c", "ulimit -n"])
        assert (out, code) == (f"{resource.getrlimit(resource.RLIMIT_NOFILE)[0]}\n".encode(), 0)
        with pytest.raises(client.ShimError, match="bad request"):
            client.resize(str(b.path), 70000, 80)  # past a winsize's 16 bits: this request fails
        assert client.state(str(b.path))["status"] == "running"
    finally:
        launcher.close()
    os.kill(answer["pid"], signal.SIGKILL)
    assert client.wait(str(b.path))["exit_code"] == 137
    assert gone(answer["shim_pid"])


def test_a_container_whose_shim_fails_takes_no_other_down(root: Root) -> None:
    # The log cannot rotate (a directory holds the rotated name): not a full disk, so
    # the write raises in that container's output callback.
    broken = root.make(["sh", "-c", "while true; do echo 0123456789abcdef; done"],
                       log_opts={"max-size": "1k", "max-file": "2"})
    (broken.path / "ctr-json.log.1").mkdir()
    (broken.path / "ctr-json.log.1" / "in-the-way").touch()
    healthy = root.make(["sleep", "60"])
    launcher = client.Launcher(str(root.path))
    try:
        ok = launcher.start(str(healthy.path), healthy.opts)
        bad = launcher.start(str(broken.path), broken.opts)
        assert bad["shim_pid"] == ok["shim_pid"]
        assert client.wait(str(broken.path), timeout=30)["exit_code"] == 255
        assert gone(bad["pid"])  # killed with its cgroup
        done = client.read_exit(str(broken.path))
        assert done["exit_code"] == 255 and done["error"].startswith("shim: ")
        assert client.state(str(healthy.path)) == {"pid": ok["pid"], "status": "running"}
        assert run_exec(str(healthy.path), "e", ["echo", "fine"]) == (b"fine\n", 0)
    finally:
        launcher.close()
    host_log = root.path / "shimhost.log"
    logged = host_log.read_text()
    host_log.unlink()
    assert f"container {broken.cid} failed" in logged and "Traceback" in logged
    os.kill(ok["pid"], signal.SIGKILL)
    assert client.wait(str(healthy.path))["exit_code"] == 137
    assert gone(ok["shim_pid"])


def test_an_old_generation_host_serves_its_containers_then_exits(root: Root) -> None:
    old_b = root.make(["sh", "-c", "read x; echo got:$x; exit 4"], open_stdin=True)
    new_b = root.make(["sleep", "60"])
    first = client.Launcher(str(root.path))
    old = first.start(str(old_b.path), old_b.opts)
    first.close()  # wharfd restarted: a new launcher, a new host
    second = client.Launcher(str(root.path))
    try:
        new = second.start(str(new_b.path), new_b.opts)
        assert new["shim_pid"] != old["shim_pid"]
        assert run_exec(str(old_b.path), "e", ["echo", "old"]) == (b"old\n", 0)
        sock = client.attach(str(old_b.path), stdin=True, stdout=False, stderr=False)
        sock.sendall(b"bye\n")
        assert client.wait(str(old_b.path))["exit_code"] == 4
        sock.close()
        assert gone(old["shim_pid"])
        assert [r["log"] for r in old_b.log()] == ["got:bye\n"]
        assert client.state(str(new_b.path))["status"] == "running"
    finally:
        second.close()
    os.kill(new["pid"], signal.SIGKILL)
    assert gone(new["shim_pid"])


def test_a_dead_host_is_replaced_at_the_next_start(root: Root) -> None:
    first, second = root.make(["sleep", "60"]), root.make(["sh", "-c", "echo again"])
    launcher = client.Launcher(str(root.path))
    try:
        dead = launcher.start(str(first.path), first.opts)
        os.kill(dead["shim_pid"], signal.SIGKILL)
        assert gone(dead["shim_pid"])
        new = launcher.start(str(second.path), second.opts)
        assert new["pid"] > 0 and new["shim_pid"] != dead["shim_pid"]
        assert client.wait(str(second.path))["exit_code"] == 0
        assert [r["log"] for r in second.log()] == ["again\n"]
    finally:
        launcher.close()
    assert gone(new["shim_pid"])
    assert remove_cgroups(first.cid)  # orphaned with its host: the engine's cleanup does this
