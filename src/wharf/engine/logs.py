"""``docker logs``: the json-file log read in a thread, delivered on the loop.

The reader (``wharf.runtime.jsonlog.read``) is blocking and, with follow,
polls until the container stops; it runs in a worker thread that hands
entries to the loop through a bounded queue, and stops when the consumer
goes away.
"""

from __future__ import annotations

import asyncio
import threading
from typing import AsyncIterator, Callable

from wharf.runtime import jsonlog
from wharf.runtime.jsonlog import Entry

_DONE = object()


async def read(path: str, tail: int | None, since_ns: int | None, until_ns: int | None,
               follow: bool, stopped: Callable[[], bool]) -> AsyncIterator[Entry]:
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[object] = asyncio.Queue(maxsize=1024)
    cancelled = threading.Event()

    def put(item: object) -> None:
        asyncio.run_coroutine_threadsafe(queue.put(item), loop).result()

    def worker() -> None:
        try:
            for entry in jsonlog.read(path, tail=tail, since_ns=since_ns, until_ns=until_ns,
                                      follow=follow,
                                      stopped=lambda: cancelled.is_set() or stopped()):
                if cancelled.is_set():
                    return
                put(entry)
        except BaseException as e:  # handed to the consumer, raised there
            if not cancelled.is_set():
                put(e)
        finally:
            if not cancelled.is_set():
                put(_DONE)

    thread = threading.Thread(target=worker, name="logs", daemon=True)
    thread.start()
    try:
        while True:
            item = await queue.get()
            if item is _DONE:
                return
            if isinstance(item, BaseException):
                raise item
            yield item  # type: ignore[misc]
    finally:
        cancelled.set()
        while not queue.empty():  # unblock a worker waiting on a full queue
            queue.get_nowait()
