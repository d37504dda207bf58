"""The shim launcher: a fork server wharfd starts once, at boot.

``python -m wharf.shim.launcher EXEC_ROOT``, with stdin and stdout one end of a
socketpair to the daemon. Each request line ``{"bundle": path, "opts": {...}}``
(a bundle under EXEC_ROOT, the shim's options) is answered, once the container
has exec'd or failed, by one line ``{"bundle", "shim_pid", "pid"}`` or
``{"bundle", "shim_pid", "error", "kind"}``; requests for different bundles may
overlap. A gate line ``{"bundle", "gate": true|false}`` (``wharf.runtime.startgate``)
goes on to the host unanswered.

At its first request the launcher forks the shim host (``wharf.shim.host``),
the one process that is the shim of every container this daemon starts, and
relays requests and answers to and from it. Being a fork, the host shares
the launcher's imported modules copy-on-write and runs from the same sealed
interpreter. Fork, setsid, fork: the host is in its own session and nobody's
child but init's, so it outlives both the daemon and the launcher. EOF on
stdin ends the launcher; its host keeps serving its containers and exits
when they are gone.
"""

from __future__ import annotations

import gc
import json
import os
import selectors
import signal
import socket
import sys
from typing import Any

from wharf.linux import syscalls
from wharf.shim import host
from wharf.shim.runtimes import SpawnFailed, load_runtime

#: The shim host's log (its stderr), in the exec root: errors a container's shim met.
HOST_LOG = "shimhost.log"


def _preload() -> None:
    """Import what the shim host will import, before forking it, so it is shared."""
    try:
        load_runtime("wharf")
    except (ImportError, SpawnFailed):
        pass
    from wharf.runtime import caps, seccomp
    seccomp.warm_default(list(caps.DEFAULT))
    gc.freeze()  # the forked host then never touches these objects' pages for collection


def _become_host(root: str, link: socket.socket) -> None:
    """In the grandchild: keep only the link, log to ``root/shimhost.log``, serve, never return."""
    code = 1
    try:
        null = os.open(os.devnull, os.O_RDWR)
        os.dup2(null, 0)
        os.dup2(null, 1)
        log = os.open(os.path.join(root, HOST_LOG), os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        os.dup2(log, 2)
        syscalls.close_fds_except({link.fileno()})
        code = host.run(link)
    finally:
        os._exit(code)


def _fork_host(root: str) -> socket.socket:
    """A new shim host in its own session; our end of its launcher link."""
    ours, theirs = socket.socketpair()
    pid = os.fork()
    if pid == 0:
        try:
            os.setsid()
            if os.fork() == 0:
                _become_host(root, theirs)
        finally:
            os._exit(0)
    theirs.close()
    os.waitpid(pid, 0)
    return ours


class Launcher:
    """The request loop: lines in on stdin, relayed to the shim host, its answers out
    on stdout. A host that died is replaced at the next request."""

    def __init__(self, root: str) -> None:
        self.root = os.path.realpath(root)
        self.sel = selectors.DefaultSelector()
        self.inbuf = b""
        self.host: socket.socket | None = None
        self.host_buf = b""
        self.pending: set[str] = set()  # bundles the host has not answered yet

    def serve(self) -> None:
        self.sel.register(0, selectors.EVENT_READ)
        while True:
            for key, _ in self.sel.select():
                if key.fd == 0:
                    if not self._read_requests():
                        return
                else:
                    self._read_answers()

    def _answer(self, answer: dict[str, Any]) -> None:
        self._write(json.dumps(answer).encode() + b"\n")

    def _write(self, data: bytes) -> None:
        while data:
            data = data[os.write(1, data):]

    def _read_requests(self) -> bool:
        chunk = os.read(0, 65536)
        if not chunk:
            return False
        self.inbuf += chunk
        *lines, self.inbuf = self.inbuf.split(b"\n")
        for line in lines:
            if line.strip():
                self._request(line)
        return True

    def _request(self, line: bytes) -> None:
        try:
            request = json.loads(line)
            bundle = request["bundle"]
            if "gate" in request:  # the engine's word at a start's gate: the host's business
                if self.host is not None:
                    self._to_host({"bundle": bundle, "gate": bool(request["gate"])})
                return
            opts = request["opts"]
        except (ValueError, KeyError, TypeError):
            self._answer({"bundle": None, "shim_pid": None, "error": "bad request", "kind": "shim"})
            return
        real = os.path.realpath(bundle)
        if os.path.commonpath([real, self.root]) != self.root or not os.path.isdir(real):
            self._answer({"bundle": bundle, "shim_pid": None, "kind": "shim",
                          "error": f"bundle {bundle} is not a directory under {self.root}"})
            return
        if self.host is None:
            self.host = _fork_host(self.root)
            self.sel.register(self.host, selectors.EVENT_READ)
        self.pending.add(bundle)
        self._to_host({"bundle": bundle, "opts": opts})

    def _to_host(self, request: dict[str, Any]) -> None:
        assert self.host is not None
        try:
            self.host.sendall(json.dumps(request).encode() + b"\n")
        except OSError:
            self._host_gone()

    def _read_answers(self) -> None:
        assert self.host is not None
        try:
            chunk = self.host.recv(65536)
        except OSError:
            chunk = b""
        if not chunk:
            self._host_gone()
            return
        self.host_buf += chunk
        *lines, self.host_buf = self.host_buf.split(b"\n")
        for line in lines:
            self.pending.discard(json.loads(line)["bundle"])
            self._write(line + b"\n")

    def _host_gone(self) -> None:
        """The host died: its pending starts fail; the next request forks a new one."""
        assert self.host is not None
        self.sel.unregister(self.host)
        self.host.close()
        self.host, self.host_buf = None, b""
        for bundle in self.pending:
            self._answer({"bundle": bundle, "shim_pid": None, "kind": "shim",
                          "error": "shim exited before starting the container"})
        self.pending.clear()


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print("usage: python -m wharf.shim.launcher EXEC_ROOT", file=sys.stderr)
        return 2
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # wharfd decides when we go: EOF
    _preload()
    Launcher(argv[1]).serve()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
