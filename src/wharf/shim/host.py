"""The shim host: one process that is the shim of many containers.

The launcher (``wharf.shim.launcher``) forks it at its first start request
(fork, setsid, fork: nobody's child but init's, in its own session, so it
outlives wharfd and the launcher) and relays every start request to it over
a socket pair, the *launcher link*: ``{"bundle", "opts"}`` in, ``{"bundle",
"shim_pid", "pid"}`` or ``{"bundle", "shim_pid", "error", "kind"}`` out, and
the gate lines ``{"bundle", "gate"}`` in for the starts waiting at their gate.
A Python process per container cost ~2.4 MB of private memory each (CPython
writes to the pages it forked with); one host costs that once.

One ``selectors`` loop (``wharf.shim.loop``) serves every container's
``Shim`` (``wharf.shim.main``): each keeps its own ``shim.sock`` and the same
protocol. The host is a child subreaper: what a spawn helper
(``wharf.shim.spawner``) started becomes the host's child when the helper
exits, so SIGCHLD reaping is host-wide and dispatched by pid. A container
pid reaped before its helper's report was read is kept (``_early``) and
handed over with the report.

It runs with ``oom_score_adj`` -999: it carries every container's output,
so the OOM killer taking it would cost all of them their logs and waits.

A host whose launcher link closed (wharfd restarted, or stopped) takes no
new containers; it keeps serving its own and exits once none is left.
"""

from __future__ import annotations

import json
import os
import resource
import selectors
import signal
import socket
import sys
import time
import traceback
from typing import Any, Callable, Iterable

from wharf.linux import syscalls
from wharf.shim import main as shim_main
from wharf.shim import spawner
from wharf.shim.loop import Loop, Outbox, guard
from wharf.shim.runtimes import Runtime, load_runtime

#: OOM score of the host: what it carries is every container's
OOM_SCORE_ADJ = -999

OnReport = Callable[[dict[str, Any], list[int], "int | None"], None]


class Host:
    """The loop and the bookkeeping shared by every container's ``Shim``."""

    def __init__(self, link: socket.socket, child_nofile: tuple[int, int]) -> None:
        self.loop = Loop()
        self.child_nofile = child_nofile
        self.link = link
        self.link_out = Outbox(self.loop.scope(None), link.fileno(), lambda: None)  # type: ignore[arg-type]
        self.inbuf = b""
        self.shims: set[shim_main.Shim] = set()
        self._runtimes: dict[str, Runtime] = {}
        #: pid -> (owner, what to do with its wait status)
        self._children: dict[int, tuple[Any, Callable[[int], None]]] = {}
        #: report socket fd -> (owner, socket, reap count at its fork, callback)
        self._reports: dict[int, tuple[Any, socket.socket, int, OnReport]] = {}
        #: statuses of pids reaped before anyone claimed them: pid -> (reap count, status)
        self._early: dict[int, tuple[int, int]] = {}
        self._reaped = 0
        self._touched: set[Any] = set()

    # -- for the containers' shims ------------------------------------------
    def runtime(self, name: str) -> Runtime:
        if name not in self._runtimes:
            self._runtimes[name] = load_runtime(name)
        return self._runtimes[name]

    def spawn(self, owner: Any, job: Callable[[], spawner.Report], keep: Iterable[int],
              on_report: OnReport) -> None:
        """Run ``job`` in a helper (``spawner.fork``); ``on_report(answer, fds, early)``
        once it reported, ``early`` the wait status of the pid it started if that
        was reaped first."""
        pid, sock = spawner.fork(job, keep, self.child_nofile)
        self._children[pid] = (None, lambda status: None)
        self._reports[sock.fileno()] = (owner, sock, self._reaped, on_report)
        self.loop.watch(sock.fileno(), selectors.EVENT_READ, lambda: self._read_report(sock.fileno()),
                        owner)

    def adopt(self, pid: int, owner: Any, on_exit: Callable[[int], None]) -> None:
        """Call ``on_exit(status)`` (failing ``owner`` if it raises) when ``pid`` is reaped."""
        self._children[pid] = (owner, on_exit)

    def disown(self, pid: int) -> None:
        self._children.pop(pid, None)

    def answer(self, bundle: str, answer: dict[str, Any]) -> None:
        """Answer the launcher's start request for ``bundle``."""
        self.link_out.write(json.dumps(
            {"bundle": bundle, "shim_pid": os.getpid(), **answer}).encode() + b"\n")

    def remove(self, shim: shim_main.Shim) -> None:
        self.shims.discard(shim)

    def log_error(self, what: str, error: BaseException) -> None:
        stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        print(f"{stamp} shim host {os.getpid()}: {what} failed:", file=sys.stderr)
        traceback.print_exception(error, file=sys.stderr)
        sys.stderr.flush()

    # -- the loop ------------------------------------------------------------
    def serve(self) -> None:
        """Until the launcher is gone and no container is left."""
        wake_r, wake_w = os.pipe2(os.O_CLOEXEC | os.O_NONBLOCK)
        signal.set_wakeup_fd(wake_w)
        signal.signal(signal.SIGCHLD, lambda *_: None)
        self.loop.watch(wake_r, selectors.EVENT_READ, lambda: self._reap(wake_r))
        self.link.setblocking(False)
        self.loop.watch(self.link.fileno(), selectors.EVENT_READ, self._read_requests)
        timeout: float | None = None
        while self.link.fileno() >= 0 or self.shims:
            self.loop.run_once(timeout)
            now = time.monotonic()
            due, nearest = [], None  # one pass over the shims per round
            for shim in self.shims:
                deadline = shim.deadline()
                if deadline is None:
                    continue
                if deadline <= now:
                    due.append(shim)
                elif nearest is None or deadline < nearest:
                    nearest = deadline
            for shim in self._touched | self.loop.touched | set(due):
                if isinstance(shim, shim_main.Shim):
                    guard(shim, lambda: shim.poll(now))
            self._touched = set()
            # a poll only clears deadlines; callbacks that set new ones run in run_once
            timeout = None if nearest is None else max(0.0, nearest - time.monotonic())

    def _read_requests(self) -> None:
        try:
            chunk = self.link.recv(65536)
        except BlockingIOError:
            return
        except OSError:
            chunk = b""
        if not chunk:  # the launcher is gone: serve what we have, take nothing new
            self.loop.forget(self.link.fileno())
            self.link_out.fd = -1
            self.link.close()
            for shim in list(self.shims):  # nobody is left to open a gate: abort them
                shim.release_gate(False)
            return
        self.inbuf += chunk
        *lines, self.inbuf = self.inbuf.split(b"\n")
        for line in lines:
            if line.strip():
                request = json.loads(line)
                if "gate" in request:
                    self._gate(request["bundle"], bool(request["gate"]))
                else:
                    self._start(request["bundle"], request["opts"])

    def _gate(self, bundle: str, go: bool) -> None:
        """The engine's word for the start of ``bundle`` waiting at its gate (none waits
        when that start already failed)."""
        for shim in self.shims:
            if shim.bundle == bundle and shim.gate is not None:
                shim.release_gate(go)

    def _start(self, bundle: str, opts: dict[str, Any]) -> None:
        try:
            shim = shim_main.Shim(self, bundle, opts)
        except Exception as e:  # noqa: BLE001 - a broken bundle: say so
            self.answer(bundle, {"error": f"shim: {e}", "kind": "shim"})
            return
        self.shims.add(shim)
        guard(shim, shim.start)

    def _read_report(self, fd: int) -> None:
        owner, sock, forked_at, on_report = self._reports[fd]
        got = spawner.read_report(sock)
        if got is None:
            return
        self.loop.forget(fd)
        del self._reports[fd]
        sock.close()
        answer, fds = got
        early = None
        if answer.get("pid") in self._early:
            reaped_at, status = self._early.pop(answer["pid"])
            early = status if reaped_at > forked_at else None
        if not self._reports:
            self._early.clear()  # nobody can claim them any more
        if owner.closed:
            spawner.discard(answer, fds)
            return
        on_report(answer, fds, early)

    def _reap(self, wake_r: int) -> None:
        try:
            while os.read(wake_r, 512):
                pass
        except BlockingIOError:
            pass
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            self._reaped += 1
            owner, on_exit = self._children.pop(pid, (None, None))
            if on_exit is None:
                if self._reports:  # maybe a process whose helper's report is unread
                    self._early[pid] = (self._reaped, status)
            elif owner is None:
                on_exit(status)
            else:
                self._touched.add(owner)
                guard(owner, lambda: on_exit(status))  # type: ignore[misc]


def run(link: socket.socket) -> int:
    """The host's life, in the launcher's grandchild; errors go to stderr (the
    launcher points it at ``EXEC_ROOT/shimhost.log``)."""
    os.chdir("/")
    signal.signal(signal.SIGPIPE, signal.SIG_IGN)
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    syscalls.prctl(syscalls.PR_SET_CHILD_SUBREAPER, 1)
    try:
        with open("/proc/self/oom_score_adj", "w") as f:
            f.write(str(OOM_SCORE_ADJ))
    except PermissionError:  # lowering it takes CAP_SYS_RESOURCE (a container host may lack it)
        pass
    # A few fds per container: the soft limit (often 1024) would cap the host at a
    # few hundred containers. Its helpers put it back: containers inherit the usual one.
    nofile = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (nofile[1], nofile[1]))
    host = Host(link, nofile)
    try:
        host.serve()
    except Exception as e:  # noqa: BLE001 - the host's own bug: leave a trace
        host.log_error("the loop", e)
        return 1
    return 0
