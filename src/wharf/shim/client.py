"""The daemon's side of the shim: start shims through the launcher, talk to shim.sock.

Plain blocking sockets, for tests and tools (the daemon speaks the same
protocols on its event loop: ``wharf.engine.launch.Launcher`` and
``wharf.engine.shims``). Streams (attach, exec) are
returned as connected sockets carrying Docker's frames
(``wharf.shim.frames.read_frames``) one way and raw stdin the other.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
from typing import Any

from wharf.linux import sealed


class ShimError(Exception):
    """The shim refused a request; ``kind`` as in the answer (e.g. "not_found")."""

    def __init__(self, message: str, kind: str = "") -> None:
        super().__init__(message)
        self.kind = kind


def launcher_command(exec_root: str) -> list[str]:
    """The launcher's command line (a leaked shim is findable by it)."""
    return [sys.executable, "-m", "wharf.shim.launcher", exec_root]


def start_launcher(exec_root: str, sock: socket.socket) -> subprocess.Popen[bytes]:
    """Run the launcher with ``sock`` as its stdin and stdout, from a sealed memfd
    copy of our interpreter (``wharf.linux.sealed``), so neither it nor the shims
    and exec helpers it forks have a host file as /proc/PID/exe. argv[0] stays
    ``sys.executable``: Python finds its prefix and venv (so ``wharf``) from it."""
    binary = sealed.sealed_copy(sys.executable, "wharf-python")
    try:
        return subprocess.Popen(launcher_command(exec_root), executable=f"/proc/self/fd/{binary}",
                                pass_fds=(binary,), stdin=sock, stdout=sock, close_fds=True)
    finally:
        os.close(binary)


class Launcher:
    """The launcher process of one daemon, for tests and tools (the daemon speaks to it
    with asyncio: ``wharf.engine.launch.Launcher``); ``start`` is safe to call from many
    threads."""

    def __init__(self, exec_root: str) -> None:
        ours, theirs = socket.socketpair()
        self.proc = start_launcher(exec_root, theirs)
        theirs.close()
        self._sock = ours
        self._reader = ours.makefile("rb")
        self._cond = threading.Condition()
        self._answers: dict[str, dict[str, Any]] = {}
        self._reading = False

    def start(self, bundle: str, opts: dict[str, Any]) -> dict[str, Any]:
        """Start the container of ``bundle`` with the shim options ``opts``: ``{"shim_pid",
        "pid"}`` or ``{"shim_pid", "error", "kind"}`` (``shim_pid``: the shim host serving it).
        One start per bundle at a time; with ``"gate": true`` in ``opts`` it answers only
        once another thread said ``open_gate``."""
        with self._cond:
            self._sock.sendall(json.dumps({"bundle": bundle, "opts": opts}).encode() + b"\n")
            while bundle not in self._answers:
                if self._reading:
                    self._cond.wait()
                    continue
                self._reading = True
                self._cond.release()
                try:
                    line = self._reader.readline()
                finally:
                    self._cond.acquire()
                    self._reading = False
                    self._cond.notify_all()
                if not line:
                    raise ShimError("the shim launcher exited", "shim")
                answer = json.loads(line)
                self._answers[answer.pop("bundle")] = answer
            return self._answers.pop(bundle)

    def open_gate(self, bundle: str, go: bool) -> None:
        """Let the gated start of ``bundle`` exec, or make it give up."""
        with self._cond:
            self._sock.sendall(json.dumps({"bundle": bundle, "gate": go}).encode() + b"\n")

    def close(self) -> None:
        """EOF to the launcher: it exits; its shim host keeps serving its containers."""
        self._reader.close()
        self._sock.close()
        self.proc.wait()


def _connect(bundle: str, timeout: float | None) -> socket.socket:
    """Through ``/proc/self/fd/N/``: the full path may pass sun_path's 108 bytes."""
    dirfd = os.open(bundle, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(timeout)
    try:
        sock.connect(f"/proc/self/fd/{dirfd}/shim.sock")
    except OSError:
        sock.close()
        raise
    finally:
        os.close(dirfd)
    return sock


def _read_line(sock: socket.socket) -> dict[str, Any] | None:
    """One answer line, read bytewise so no stream byte after it is consumed."""
    buf = bytearray()
    while not buf.endswith(b"\n"):
        b = sock.recv(1)
        if not b:
            return None
        buf += b
    return json.loads(buf)


def _open(bundle: str, req: dict[str, Any], timeout: float | None) -> tuple[socket.socket, dict[str, Any]]:
    sock = _connect(bundle, timeout)
    try:
        sock.sendall(json.dumps(req).encode() + b"\n")
        answer = _read_line(sock)
    except BaseException:
        sock.close()
        raise
    if answer is None or "error" in answer:
        sock.close()
        raise ShimError(answer["error"] if answer else "the shim has exited",
                        answer.get("kind", "") if answer else "exited")
    return sock, answer


def request(bundle: str, req: dict[str, Any], timeout: float | None = 10) -> dict[str, Any]:
    sock, answer = _open(bundle, req, timeout)
    sock.close()
    return answer


def read_exit(bundle: str) -> dict[str, Any] | None:
    """exit.json of a container whose shim is gone, or None."""
    try:
        with open(os.path.join(bundle, "exit.json")) as f:
            return json.load(f)
    except FileNotFoundError:
        return None


def wait(bundle: str, timeout: float | None = None) -> dict[str, Any]:
    """Block until the container exits: ``{"exit_code", "oom_killed", "finished_at"}``."""
    try:
        return request(bundle, {"op": "wait"}, timeout)
    except (ShimError, ConnectionError, FileNotFoundError):
        done = read_exit(bundle)  # the shim finished between our look and our question
        if done is None:
            raise
        return {k: done[k] for k in ("exit_code", "oom_killed", "finished_at")}


def state(bundle: str) -> dict[str, Any]:
    return request(bundle, {"op": "state"})


def resize(bundle: str, height: int, width: int) -> None:
    request(bundle, {"op": "resize", "height": height, "width": width})


def exec_resize(bundle: str, exec_id: str, height: int, width: int) -> None:
    request(bundle, {"op": "exec_resize", "id": exec_id, "height": height, "width": width})


def attach(bundle: str, stdin: bool, stdout: bool, stderr: bool) -> socket.socket:
    """A stream of the container's output frames; what is sent goes to its stdin."""
    sock, _ = _open(bundle, {"op": "attach", "stdin": stdin, "stdout": stdout, "stderr": stderr}, 10)
    sock.settimeout(None)
    return sock


def exec_(bundle: str, exec_id: str, process: dict[str, Any], tty: bool,
          stdin: bool) -> tuple[socket.socket, int]:
    """Run ``process`` (an OCI process) in the container: (stream, pid). The stream
    ends with a control frame (stream 255) ``{"exit_code": n}``."""
    sock, answer = _open(bundle, {"op": "exec", "id": exec_id, "process": process,
                                  "tty": tty, "stdin": stdin}, 30)
    sock.settimeout(None)
    return sock, answer["pid"]
