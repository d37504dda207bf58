"""``wharf.threads.in_own_thread``: work that waits on the loop never needs the pool."""

from __future__ import annotations

import asyncio
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from wharf.threads import in_own_thread


def test_result_and_error_come_back() -> None:
    async def main() -> None:
        assert await in_own_thread(lambda a, b: a + b, 2, 3) == 5
        with pytest.raises(KeyError):
            await in_own_thread({}.__getitem__, "missing")
    asyncio.run(main())


def test_runs_while_every_pool_thread_waits_for_it() -> None:
    """Work that the pool's threads wait for still runs: the deadlock of 16
    concurrent starts, in miniature."""
    async def main() -> None:
        loop = asyncio.get_running_loop()
        loop.set_default_executor(ThreadPoolExecutor(max_workers=2))
        released = threading.Event()
        waiters = [asyncio.ensure_future(asyncio.to_thread(released.wait, 10)) for _ in range(2)]
        await asyncio.sleep(0.05)  # both pool threads now wait
        await asyncio.wait_for(in_own_thread(released.set), timeout=5)
        assert await asyncio.gather(*waiters) == [True, True]
    asyncio.run(main())
