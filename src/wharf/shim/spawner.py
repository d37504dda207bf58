"""Short-lived children of the shim host, for work that would block its loop.

A start or an exec (``runtime.spawn``: cgroup placement, the start gate,
exec) takes tens of milliseconds and may wait on the engine; a cgroup
destroy kills and waits. The host forks a child for each (a copy-on-write
fork: it costs a millisecond and no Python start), which keeps only the fds
its job needs, runs the job, sends back one report (a JSON message, with fds
such as a pty master attached by SCM_RIGHTS) and exits. Processes the job
started are the child's children; once it exits the kernel hands them to the
nearest subreaper, the host, which then reaps them.
"""

from __future__ import annotations

import gc
import json
import os
import resource
import signal
import socket
from typing import Any, Callable, Iterable

from wharf.linux import syscalls as sc

#: A job's report: a JSON-able dict and the fds to pass along with it.
Report = tuple[dict[str, Any], list[int]]
_MAX_REPORT = 64 * 1024


def fork(job: Callable[[], Report], keep: Iterable[int],
         nofile: tuple[int, int]) -> tuple[int, socket.socket]:
    """Run ``job`` in a child holding only ``keep`` (and stdio) and with ``nofile`` as
    its RLIMIT_NOFILE (what it starts inherits it); returns the child's pid and our end
    of its report socket (read it with ``read_report``). An exception in the job is
    reported as ``{"error": "shim: ...", "kind": "shim"}``."""
    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    pid = os.fork()
    if pid == 0:  # never returns
        code = 1
        try:
            gc.disable()  # a collection could close a host object's fd number we reuse
            signal.set_wakeup_fd(-1)
            signal.signal(signal.SIGCHLD, signal.SIG_DFL)
            sc.close_fds_except({theirs.fileno(), *keep})
            resource.setrlimit(resource.RLIMIT_NOFILE, nofile)
            try:
                answer, fds = job()
            except Exception as e:  # noqa: BLE001 - the host hears of everything
                answer, fds = {"error": f"shim: {e}", "kind": "shim"}, []
            socket.send_fds(theirs, [json.dumps(answer).encode()], fds)
            code = 0
        finally:
            os._exit(code)
    theirs.close()
    ours.setblocking(False)
    return pid, ours


def read_report(sock: socket.socket) -> Report | None:
    """The child's report; None while none has come (a spurious wakeup). A child that
    died before reporting reports an error."""
    try:
        data, fds, _, _ = socket.recv_fds(sock, _MAX_REPORT, 4)
    except BlockingIOError:
        return None
    except OSError as e:
        data, fds = b"", []
        error = str(e)
    else:
        error = "the shim's helper exited before it reported"
    if not data:
        return {"error": error, "kind": "shim"}, []
    return json.loads(data), fds


def discard(answer: dict[str, Any], fds: list[int]) -> None:
    """Drop a report nobody wants any more: its fds closed, the process it started killed
    (the host reaps it as any orphan)."""
    for fd in fds:
        os.close(fd)
    if answer.get("pid"):
        try:
            os.kill(answer["pid"], signal.SIGKILL)
        except ProcessLookupError:
            pass
