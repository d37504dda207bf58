"""The start gate: the engine holds a container's exec until its network is ready.

Without it a start is sequential: namespace, veth, addresses, routes and
/etc files (10-15 ms of netlink), and only then the shim, the fork, the
rootfs and the cgroup move (another 10-15 ms). With it the engine makes the
namespace, starts the shim at once and plumbs the network while the runtime
sets the container up; the runtime stops right before exec (``runc
create``'s point) and waits here.

The gate is a FIFO, ``start.gate``, in the bundle. The engine makes it and
holds it open read-write (so nobody blocks in ``open`` and the byte it
writes stays buffered until read), then writes one byte: ``1`` go, ``0``
abort. EOF, when the engine died, aborts too. A bundle without the FIFO has
no gate (``runc run`` of an exported bundle, restarts by hand).
"""

from __future__ import annotations

import os

NAME = "start.gate"


class Gate:
    """The engine's end. Keep it open until the launch has answered: closing the
    last end of a FIFO drops a byte not yet read."""

    def __init__(self, bundle: str) -> None:
        self.path = os.path.join(bundle, NAME)
        try:
            os.unlink(self.path)  # a start cut short left it
        except FileNotFoundError:
            pass
        os.mkfifo(self.path, 0o600)
        self._fd = os.open(self.path, os.O_RDWR | os.O_NONBLOCK | os.O_CLOEXEC)

    def release(self, go: bool) -> None:
        os.write(self._fd, b"1" if go else b"0")

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1
        try:
            os.unlink(self.path)
        except FileNotFoundError:
            pass


def wait(bundle: str) -> bool:
    """The runtime's end: block until the engine says; True to go on (or no gate)."""
    try:
        fd = os.open(os.path.join(bundle, NAME), os.O_RDONLY | os.O_CLOEXEC)
    except FileNotFoundError:
        return True
    try:
        return os.read(fd, 1) == b"1"
    finally:
        os.close(fd)
