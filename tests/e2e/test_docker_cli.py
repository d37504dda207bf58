"""The real docker CLI against wharfd: the container commands a user types."""

from __future__ import annotations

import json
import os
import pty
import select
import subprocess
import time

import pytest

from support.commands import ok


@pytest.fixture
def counter(wharfd, busybox):
    """A detached container that prints a line every 0.1 s."""
    cid = ok(wharfd.docker("run", "-d", busybox, "sh", "-c",
                           "i=0; while true; do echo line $i; i=$((i+1)); sleep 0.1; done")).strip()
    yield cid
    wharfd.docker("rm", "-f", cid)


def test_run_attached_prints_output_and_returns_the_exit_code(wharfd, busybox):
    r = wharfd.docker("run", "--rm", busybox, "sh", "-c", "echo out; echo err >&2; exit 3")
    assert (r.stdout, r.stderr, r.returncode) == ("out\n", "err\n", 3)


def test_ps_inspect_logs_top_stats(wharfd, counter):
    ps = ok(wharfd.docker("ps", "--no-trunc", "--format", "{{.ID}} {{.Status}}"))
    assert any(line.startswith(counter) and " Up " in f" {line} " for line in ps.splitlines())
    info = json.loads(ok(wharfd.docker("inspect", counter)))[0]
    assert info["State"]["Running"] is True and info["Id"] == counter
    assert ok(wharfd.docker("inspect", "-f", "{{.State.Status}}", counter)).strip() == "running"
    time.sleep(0.5)
    assert "line 0\n" in ok(wharfd.docker("logs", counter))
    top = ok(wharfd.docker("top", counter))
    assert "PID" in top.splitlines()[0]
    assert "sh -c i=0" in top
    stats = ok(wharfd.docker("stats", "--no-stream", "--format", "{{.ID}} {{.PIDs}} {{.MemUsage}}", counter))
    short, pids, mem = stats.split(maxsplit=2)
    assert counter.startswith(short) and int(pids) >= 1 and "/" in mem


def test_logs_follow_streams_new_lines(wharfd, counter):
    proc = subprocess.Popen(["/usr/local/bin/docker", "logs", "-f", counter], stdout=subprocess.PIPE,
                            env=wharfd.env)
    try:
        seen = b""
        deadline = time.monotonic() + 10
        while b"line 20\n" not in seen and time.monotonic() < deadline:
            ready, _, _ = select.select([proc.stdout], [], [], 1)
            if ready:
                seen += os.read(proc.stdout.fileno(), 65536)
        assert b"line 20\n" in seen
    finally:
        proc.kill()
        proc.wait()


def test_stop_start_restart_kill_wait_rm(wharfd, counter):
    ok(wharfd.docker("stop", "-t", "1", counter))
    assert ok(wharfd.docker("inspect", "-f", "{{.State.Status}}", counter)).strip() == "exited"
    ok(wharfd.docker("start", counter))
    assert ok(wharfd.docker("inspect", "-f", "{{.State.Running}}", counter)).strip() == "true"
    ok(wharfd.docker("restart", "-t", "1", counter))
    assert ok(wharfd.docker("inspect", "-f", "{{.RestartCount}} {{.State.Running}}", counter)).split()[1] == "true"
    waiter = subprocess.Popen(["/usr/local/bin/docker", "wait", counter], stdout=subprocess.PIPE,
                              text=True, env=wharfd.env)
    time.sleep(0.3)
    ok(wharfd.docker("kill", "-s", "KILL", counter))
    assert waiter.communicate(timeout=20)[0].strip() == "137"
    ok(wharfd.docker("rm", counter))
    r = wharfd.docker("inspect", counter)
    assert r.returncode == 1 and "No such object" in r.stderr


def test_rm_of_a_running_container_needs_force(wharfd, counter):
    r = wharfd.docker("rm", counter)
    assert r.returncode == 1
    assert "cannot remove a running container" in r.stderr


def _pty_session(argv: list[str], env: dict[str, str], keys: list[bytes], expect: bytes,
                 timeout: float = 20) -> bytes:
    """Run argv on a pty, type keys once the prompt shows, return what was seen."""
    pid, fd = pty.fork()
    if pid == 0:  # pragma: no cover - the child
        os.execve(argv[0], argv, env)
    seen = b""
    try:
        deadline = time.monotonic() + timeout
        pending = list(keys)
        while time.monotonic() < deadline and expect not in seen:
            ready, _, _ = select.select([fd], [], [], 0.5)
            if ready:
                try:
                    seen += os.read(fd, 65536)
                except OSError:
                    break
            if pending and (b"# " in seen or b"$ " in seen):
                os.write(fd, pending.pop(0))
                time.sleep(0.2)
    finally:
        try:
            os.kill(pid, 9)
        except ProcessLookupError:
            pass
        os.waitpid(pid, 0)
        os.close(fd)
    return seen


def test_run_it_gives_an_interactive_shell(wharfd, busybox):
    seen = _pty_session(["/usr/local/bin/docker", "run", "--rm", "-it", busybox, "sh"], wharfd.env,
                        [b"echo $((6*7))\r", b"exit\r"], b"42")
    assert b"42" in seen


def test_exec_it_into_a_running_container(wharfd, counter):
    seen = _pty_session(["/usr/local/bin/docker", "exec", "-it", counter, "sh"], wharfd.env,
                        [b"echo in-$((20+1))\r", b"exit\r"], b"in-21")
    assert b"in-21" in seen


def test_tty_is_the_containers_own_pty_as_under_docker(wharfd, busybox):
    assert wharfd.docker("run", "--rm", "-t", busybox, "tty").stdout.strip() == "/dev/pts/0"
    cid = ok(wharfd.docker("run", "-d", "-t", busybox, "sh")).strip()
    try:
        assert wharfd.docker("exec", "-t", cid, "tty").stdout.strip() == "/dev/pts/1"
    finally:
        wharfd.docker("rm", "-f", cid)


def test_attach_after_the_init_exited_still_gets_its_output(wharfd, busybox):
    """An attach that reaches the shim between the init's exit and the end of its output
    (here a process outside the pid namespace keeps the pipe open) gets all of it: the
    race an attached `run` of a short command loses under load."""
    cid = ok(wharfd.docker("create", "--pid", "host", busybox, "sh", "-c",
                           "echo early; (sleep 1; echo late) &")).strip()
    try:
        ok(wharfd.docker("start", cid))
        time.sleep(0.3)  # sh has exited; the background subshell holds its stdout (the
        # shim waits 2 s for such output)
        assert ok(wharfd.docker("attach", cid, timeout=20)) == "early\nlate\n"
    finally:
        wharfd.docker("rm", "-f", cid)
