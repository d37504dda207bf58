"""Blocking work that may wait on the event loop, on a thread of its own.

``asyncio.to_thread`` borrows one of the default pool's few threads; work
that blocks until the loop does something for it (a streamed save writing to
a slow client, a load reading the request body) can fill that pool and starve
the very work that would let it finish, and every other request with it.
Such work runs here instead, on a thread that exists for it alone.
"""

from __future__ import annotations

import asyncio
import threading
from typing import Any, Callable, TypeVar

T = TypeVar("T")


async def in_own_thread(fn: Callable[..., T], *args: Any) -> T:
    """``fn(*args)`` on a new thread; its result or its error here."""
    loop = asyncio.get_running_loop()
    done: asyncio.Future[T] = loop.create_future()

    def settle(result: T | None, error: BaseException | None) -> None:
        if done.cancelled():
            return
        if error is not None:
            done.set_exception(error)
        else:
            done.set_result(result)  # type: ignore[arg-type]

    def run() -> None:
        try:
            result = fn(*args)
        except BaseException as e:  # noqa: BLE001 - handed to the awaiting task
            loop.call_soon_threadsafe(settle, None, e)
        else:
            loop.call_soon_threadsafe(settle, result, None)

    threading.Thread(target=run, name=f"wharf-{getattr(fn, '__name__', 'work')}", daemon=True).start()
    return await done
