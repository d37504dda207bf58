"""Run a function inside another network namespace, and netlink handles there.

``setns(CLONE_NEWNET)`` changes only the calling thread, and a socket stays in
the namespace it was created in. So a short-lived thread joins the target
namespace, creates what it must (a netlink socket, the DNS server's
listeners) and leaves; the daemon's loop and every other thread never move.
This avoids pyroute2's own netns support, which forks a helper process per
socket (and by default *creates* a missing namespace).
"""

from __future__ import annotations

import os
import socket
import threading
from typing import Callable, TypeVar

from wharf.linux import syscalls

T = TypeVar("T")


def netns_path(target: int | str) -> str:
    """A pid's namespace (``/proc/PID/ns/net``) or a path as given (``/run/netns/x``)."""
    return f"/proc/{target}/ns/net" if isinstance(target, int) else target


def call_in(target: int | str, fn: Callable[[], T]) -> T:
    """``fn()`` run on a fresh thread that has joined ``target``'s network namespace."""
    def run() -> T:
        fd = os.open(netns_path(target), os.O_RDONLY | os.O_CLOEXEC)
        try:
            syscalls.setns(fd, syscalls.CLONE_NEWNET)
        finally:
            os.close(fd)
        return fn()
    return _in_thread(run)


def iproute(target: int | str | None = None):
    """A pyroute2 ``IPRoute`` bound to ``target``'s namespace (None: the daemon's)."""
    from pyroute2 import IPRoute

    if target is None:
        return IPRoute()
    sock = call_in(target, lambda: socket.socket(socket.AF_NETLINK, socket.SOCK_DGRAM,
                                                 socket.NETLINK_ROUTE))
    return IPRoute(fileno=sock.detach())


def create(path: str) -> None:
    """A new network namespace kept alive by a bind mount on ``path`` (``ip netns add``'s way).

    The engine makes the container's namespace before the process exists, so
    its interfaces, routes and DNS listener are in place when the command
    starts (Docker's prestart hook, without a hook). Loopback comes up here.
    """
    os.makedirs(os.path.dirname(path), 0o711, exist_ok=True)
    os.close(os.open(path, os.O_RDONLY | os.O_CREAT | os.O_CLOEXEC, 0o444))

    def run() -> None:
        # Only this (short-lived) thread moves: the bind mount keeps the namespace.
        syscalls.unshare(syscalls.CLONE_NEWNET)
        syscalls.mount(f"/proc/self/task/{threading.get_native_id()}/ns/net", path,
                       None, syscalls.MS_BIND)
        syscalls.interface_up("lo")

    try:
        _in_thread(run)
    except BaseException:
        destroy(path)
        raise


def destroy(path: str) -> None:
    """Unmount and delete a namespace made by ``create``; absent is fine."""
    try:
        syscalls.umount2(path, syscalls.MNT_DETACH)
    except OSError:
        pass
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass


def _in_thread(fn: Callable[[], T]) -> T:
    """``fn()`` on a thread of its own, its error re-raised here. The thread ends right
    after: one that moved into another namespace never returns to a pool."""
    result: list[T] = []
    error: list[BaseException] = []

    def run() -> None:
        try:
            result.append(fn())
        except BaseException as e:
            error.append(e)

    thread = threading.Thread(target=run, name="wharf-netns")
    thread.start()
    thread.join()
    if error:
        raise error[0]
    return result[0]
