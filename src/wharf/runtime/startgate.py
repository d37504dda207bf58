"""The start gate: the engine holds a container's exec until its network is ready.

Without it a start is sequential: namespace, veth, addresses, routes and
/etc files (10-15 ms of netlink), and only then the shim, the fork, the
rootfs and the cgroup move (another 10-15 ms). With it the engine makes the
namespace, starts the shim at once and plumbs the network while the runtime
sets the container up; the runtime stops right before exec (``runc
create``'s point) and waits here.

The gate is a pipe the shim makes for a start that asks for one (the start
request's ``"gate": true``): the runtime reads its read end, the shim holds
its write end and writes one byte when the engine's gate line comes, ``1``
go, ``0`` abort. EOF, when the shim's link to the engine broke, aborts too.
No file: the FIFO in the bundle it replaces cost a new inode (and a
``mkfifo``, an ``unlink`` and two opens) per start. A start that asks for no
gate (tests, tools) does not wait.
"""

from __future__ import annotations

import os


def wait(fd: int | None) -> bool:
    """The runtime's end: block until the engine says; True to go on (or no gate).
    The caller keeps ``fd`` (and closes it)."""
    if fd is None:
        return True
    return os.read(fd, 1) == b"1"


def release(fd: int, go: bool) -> None:
    """The shim's end: say go (or abort) once and close the write end; a runtime
    that already gave up (its read end closed) hears nothing."""
    try:
        os.write(fd, b"1" if go else b"0")
    except OSError:  # EPIPE: the start failed before its gate
        pass
    finally:
        os.close(fd)
