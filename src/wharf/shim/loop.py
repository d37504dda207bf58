"""The shim host's event loop: one ``selectors`` loop for every container it serves.

Each fd is watched on behalf of an *owner* (one container's ``Shim``): an
exception in a callback fails that owner only (``Owner.fail``), so one
container's broken state never takes the host, and the others, down.
``Outbox`` is the non-blocking writer every client and stdin pipe uses.

No asyncio and no threads: the host forks for anything that may block
(``wharf.shim.host``), and this loop only moves bytes.
"""

from __future__ import annotations

import os
import selectors
from typing import Callable, Protocol

READ_SIZE = 64 * 1024


class Owner(Protocol):
    def fail(self, error: BaseException) -> None:
        """A callback of ours raised: give up on this owner alone."""


class Loop:
    """A selector with one read and one write callback per fd, each fd with its owner."""

    def __init__(self) -> None:
        self.sel = selectors.DefaultSelector()
        self._cbs: dict[int, list[Callable[[], None] | None]] = {}
        self._owners: dict[int, Owner | None] = {}
        #: owners whose callbacks ran in the last ``run_once``
        self.touched: set[Owner] = set()

    def scope(self, owner: Owner) -> "Scope":
        return Scope(self, owner)

    def watch(self, fd: int, event: int, cb: Callable[[], None] | None,
              owner: Owner | None = None) -> None:
        slots = self._cbs.setdefault(fd, [None, None])
        self._owners[fd] = owner
        slots[event - 1] = cb  # EVENT_READ is 1, EVENT_WRITE is 2
        mask = (selectors.EVENT_READ if slots[0] else 0) | (selectors.EVENT_WRITE if slots[1] else 0)
        registered = fd in self.sel.get_map()
        if not mask:
            self.forget(fd)
        elif registered:
            self.sel.modify(fd, mask)
        else:
            self.sel.register(fd, mask)

    def forget(self, fd: int) -> None:
        self._cbs.pop(fd, None)
        self._owners.pop(fd, None)
        if fd in self.sel.get_map():
            self.sel.unregister(fd)

    def run_once(self, timeout: float | None) -> None:
        self.touched = set()
        for key, events in self.sel.select(timeout):
            for event in (selectors.EVENT_READ, selectors.EVENT_WRITE):
                slots = self._cbs.get(key.fd)
                if not (events & event and slots and slots[event - 1]):
                    continue
                owner = self._owners.get(key.fd)
                if owner is None:
                    slots[event - 1]()  # type: ignore[misc]
                    continue
                self.touched.add(owner)
                guard(owner, slots[event - 1])  # type: ignore[arg-type]


def guard(owner: Owner, cb: Callable[[], None]) -> None:
    """Run ``cb``; what it raises fails ``owner``, not the caller."""
    try:
        cb()
    except Exception as e:  # noqa: BLE001 - one container's bug stays that container's
        owner.fail(e)


class Scope:
    """The loop as one owner sees it: what it watches is failed with it."""

    def __init__(self, loop: Loop, owner: Owner) -> None:
        self.loop, self.owner = loop, owner

    def watch(self, fd: int, event: int, cb: Callable[[], None] | None) -> None:
        self.loop.watch(fd, event, cb, self.owner)

    def forget(self, fd: int) -> None:
        self.loop.forget(fd)


class Outbox:
    """Non-blocking writes to a pipe or socket, buffering what the peer has not taken yet."""

    def __init__(self, loop: Scope, fd: int, on_error: Callable[[], None]) -> None:
        self.loop, self.fd, self.on_error = loop, fd, on_error
        self.buf = bytearray()
        self.on_empty: Callable[[], None] | None = None
        os.set_blocking(fd, False)

    def write(self, data: bytes) -> None:
        if self.fd < 0:
            return
        self.buf += data
        self._flush()

    def after_flush(self, cb: Callable[[], None]) -> None:
        """Run ``cb`` once everything written so far is delivered (or lost)."""
        self.on_empty = cb
        if not self.buf or self.fd < 0:
            self.on_empty = None
            cb()

    def _flush(self) -> None:
        try:
            while self.buf:
                sent = os.write(self.fd, self.buf[:READ_SIZE])
                del self.buf[:sent]
        except BlockingIOError:
            self.loop.watch(self.fd, selectors.EVENT_WRITE, self._flush)
            return
        except OSError:  # the reader went away: never fatal for the shim
            self.buf.clear()
            self.on_error()
        if self.fd >= 0:
            self.loop.watch(self.fd, selectors.EVENT_WRITE, None)
        if self.on_empty is not None and not self.buf:
            cb, self.on_empty = self.on_empty, None
            cb()
