"""The shim launcher: a fork server wharfd starts once, at boot.

``python -m wharf.shim.launcher EXEC_ROOT``, with stdin and stdout one end of a
socketpair to the daemon. Each request line ``{"bundle": path}`` (a bundle
under EXEC_ROOT) is answered, once the container has exec'd or failed, by one
line ``{"bundle", "shim_pid", "pid"}`` or ``{"bundle", "shim_pid", "error",
"kind"}``; requests for different bundles may overlap. A shim is a fork of
this process, so it costs about a millisecond instead of a Python start, and
shares the launcher's imported modules copy-on-write. Fork, setsid, fork: the
shim is in its own session and nobody's child but init's, so it outlives both
the daemon and the launcher. EOF on stdin ends the launcher; shims keep running.
"""

from __future__ import annotations

import gc
import json
import os
import selectors
import signal
import sys
from typing import Any

from wharf.shim import main as shim_main
from wharf.shim.runtimes import SpawnFailed, load_runtime


def _preload() -> None:
    """Import what every shim will import, before forking any, so it is shared."""
    try:
        load_runtime("wharf")
    except (ImportError, SpawnFailed):
        pass
    from wharf.runtime import caps, seccomp
    seccomp.warm_default(list(caps.DEFAULT))
    gc.freeze()  # forked shims then never touch these objects' pages for collection


def _become_shim(bundle: str, report_fd: int) -> None:
    """In the grandchild: drop the launcher's fds, run the shim, never return."""
    code = 1
    try:
        null = os.open(os.devnull, os.O_RDWR)
        for fd in (0, 1, 2):
            os.dup2(null, fd)
        os.closerange(3, report_fd)
        os.closerange(report_fd + 1, os.sysconf("SC_OPEN_MAX"))
        signal.signal(signal.SIGINT, signal.SIG_DFL)

        def report(answer: dict[str, Any]) -> None:
            os.write(report_fd, json.dumps({"shim_pid": os.getpid(), **answer}).encode() + b"\n")
            os.close(report_fd)

        code = shim_main.run(bundle, report)
    finally:
        os._exit(code)


def _fork_shim(bundle: str) -> int:
    """Start the shim for ``bundle``; returns the read end of its report pipe."""
    r, w = os.pipe2(os.O_CLOEXEC)
    pid = os.fork()
    if pid == 0:
        try:
            os.setsid()
            if os.fork() == 0:
                _become_shim(bundle, w)
        finally:
            os._exit(0)
    os.close(w)
    os.waitpid(pid, 0)
    return r


class Launcher:
    """The request loop: lines in on stdin, fork per bundle, answers out on stdout."""

    def __init__(self, root: str) -> None:
        self.root = os.path.realpath(root)
        self.sel = selectors.DefaultSelector()
        self.inbuf = b""
        self.reports: dict[int, tuple[str, bytes]] = {}  # report pipe -> (bundle, bytes so far)

    def serve(self) -> None:
        self.sel.register(0, selectors.EVENT_READ)
        while True:
            for key, _ in self.sel.select():
                if key.fd == 0:
                    if not self._read_requests():
                        return
                else:
                    self._read_report(key.fd)

    def _answer(self, answer: dict[str, Any]) -> None:
        data = json.dumps(answer).encode() + b"\n"
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
            bundle = json.loads(line)["bundle"]
        except (ValueError, KeyError, TypeError):
            self._answer({"bundle": None, "shim_pid": None, "error": "bad request", "kind": "shim"})
            return
        real = os.path.realpath(bundle)
        if os.path.commonpath([real, self.root]) != self.root or not os.path.isdir(real):
            self._answer({"bundle": bundle, "shim_pid": None, "kind": "shim",
                          "error": f"bundle {bundle} is not a directory under {self.root}"})
            return
        fd = _fork_shim(bundle)
        self.reports[fd] = (bundle, b"")
        self.sel.register(fd, selectors.EVENT_READ)

    def _read_report(self, fd: int) -> None:
        bundle, got = self.reports[fd]
        chunk = os.read(fd, 65536)
        if chunk:
            self.reports[fd] = (bundle, got + chunk)
            return
        self.sel.unregister(fd)
        os.close(fd)
        del self.reports[fd]
        try:
            answer = json.loads(got)
        except ValueError:
            answer = {"shim_pid": None, "error": "shim exited before starting the container",
                      "kind": "shim"}
        self._answer({"bundle": bundle, **answer})


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
