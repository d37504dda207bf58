"""The shim with a real container, under each runtime: log, exit status, attach, exec, wait.
Each bundle is started by a launcher closed at once: the host serves it as an old generation."""

from __future__ import annotations

import json
import os
import socket

from wharf.shim import client, frames


def frames_until_eof(sock: socket.socket) -> list[tuple[int, bytes]]:
    with sock:
        return list(frames.read_frames(sock))


def test_output_lands_in_the_log_with_its_stream_and_exit_json(bundle) -> None:
    bundle.write(["sh", "-c", "echo out; echo err >&2; printf partial; exit 3"])
    answer = bundle.start()
    shim_pid = bundle.shim_pid
    assert answer["pid"] > 0 and answer["shim_pid"] == shim_pid
    bundle.reap()
    logged = sorted((r["stream"], r["log"]) for r in bundle.log())
    assert logged == [("stderr", "err\n"), ("stdout", "out\n"), ("stdout", "partial")]
    done = bundle.exit()
    assert done["exit_code"] == 3 and done["oom_killed"] is False and done["finished_at"].endswith("Z")
    assert not (bundle.path / "shim.sock").exists()


def test_death_by_signal_is_128_plus_n(bundle) -> None:
    bundle.write(["sleep", "30"])
    os.kill(bundle.start()["pid"], 9)  # PID 1 ignores signals it has no handler for, but not SIGKILL
    bundle.reap()
    assert bundle.exit()["exit_code"] == 137


def test_wait_answers_when_the_container_exits(bundle) -> None:
    bundle.write(["sh", "-c", "read x; exit 7"], open_stdin=True)
    bundle.start()
    assert client.state(str(bundle.path))["status"] == "running"
    sock = client.attach(str(bundle.path), stdin=True, stdout=False, stderr=False)
    sock.sendall(b"go\n")
    answer = client.wait(str(bundle.path))
    sock.close()
    assert answer["exit_code"] == 7 and answer["oom_killed"] is False
    bundle.reap()
    assert client.wait(str(bundle.path))["exit_code"] == 7  # from exit.json once the shim is gone


def test_attach_gets_live_output_and_sends_stdin(bundle) -> None:
    bundle.write(["sh", "-c", "echo ready; while read line; do echo got:$line; echo e:$line >&2; done"],
                 open_stdin=True, stdin_once=True, attach=True)
    bundle.start()
    sock = client.attach(str(bundle.path), stdin=True, stdout=True, stderr=True)
    sock.sendall(b"one\ntwo\n")
    sock.shutdown(socket.SHUT_WR)  # stdin_once: EOF to the container, which then exits
    got = frames_until_eof(sock)
    assert b"".join(p for s, p in got if s == frames.STDOUT) == b"ready\ngot:one\ngot:two\n"
    assert b"".join(p for s, p in got if s == frames.STDERR) == b"e:one\ne:two\n"
    bundle.reap()
    assert bundle.exit()["exit_code"] == 0


def test_exec_streams_output_and_ends_with_its_exit_code(bundle) -> None:
    bundle.write(["sleep", "30"])
    init_pid = bundle.start()["pid"]
    process = {"args": ["sh", "-c", "echo in-exec; echo oops >&2; exit 5"], "cwd": "/",
               "env": ["PATH=/bin"], "user": {"uid": 0, "gid": 0}}
    sock, pid = client.exec_(str(bundle.path), "e1", process, tty=False, stdin=False)
    assert pid > 0
    got = frames_until_eof(sock)
    assert (1, b"in-exec\n") in got and (2, b"oops\n") in got
    assert got[-1][0] == frames.CONTROL and json.loads(got[-1][1]) == {"exit_code": 5}
    os.kill(init_pid, 9)
    bundle.reap()
    assert bundle.exit()["exit_code"] == 137


def test_spawn_failure_is_reported_not_hung(bundle) -> None:
    bundle.write(["/no/such/binary"])
    answer = bundle.start()
    assert "error" in answer and "pid" not in answer and answer["kind"] == "not_found"
    bundle.reap()
    assert bundle.exit()["exit_code"] == 127


def test_tty_has_the_console_size_and_follows_resize(bundle) -> None:
    # "attach": the output from before the attach is kept for it, as for `docker run -t`
    bundle.write(["sh", "-c", "tty; stty size; read x; stty size"], tty=True, open_stdin=True,
                 attach=True)
    bundle.start()
    sock = client.attach(str(bundle.path), stdin=True, stdout=True, stderr=True)
    got = []
    reader = frames.read_frames(sock)
    while b"24 80" not in b"".join(p for _, p in got):  # the first stty has run
        got.append(next(reader))
    client.resize(str(bundle.path), 30, 100)
    sock.sendall(b"go\r")
    got += frames_until_eof(sock)
    assert {s for s, _ in got} == {frames.STDOUT}  # one output stream with a terminal
    out = b"".join(p for _, p in got).decode()
    assert "not a tty" not in out and "24 80\r\n" in out and "30 100\r\n" in out
    bundle.reap()
    logged = "".join(r["log"] for r in bundle.log())
    assert "30 100\r\n" in logged and {r["stream"] for r in bundle.log()} == {"stdout"}
