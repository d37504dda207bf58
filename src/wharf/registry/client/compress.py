"""A layer's tar as gzip, made on every core while the upload sends it.

Push sends layers gzip-compressed, as dockerd does (Docker's media type
``rootfs.diff.tar.gzip``). The tar is cut into blocks of ``BLOCK`` bytes,
each compressed by libdeflate into a gzip member of its own on a pool of
threads at once (it releases the GIL), and the members are sent in order:
one gzip file (RFC 1952: a series of members, what ``pigz --independent``
and eStargz layers are, and what every gzip reader reads whole, Go's among
them). libdeflate compresses about three times faster than zlib, to fewer
bytes than Docker's gzip (Go's level 6). A block whose samples do not
compress (random bytes, already-compressed files) is stored as it is
instead of being searched for matches it does not have: about half the CPU
of a push of a half-random layer, for the same bytes. The compressed bytes
are handed to the loop as they come, so compression and upload overlap;
their digest and size are known when the stream ends, in time for the
upload's closing PUT. A bounded number of blocks wait between the two: a
slow registry slows the compressor instead of filling memory.
"""

from __future__ import annotations

import asyncio
import collections
import hashlib
import os
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from typing import AsyncIterator, BinaryIO, Callable, Iterator

import deflate

from wharf.threads import in_own_thread

#: libdeflate's level 5 (its lazy parser): as few bytes as its 6 on text, in less time
LEVEL = 5
BLOCK = 1 << 20
#: a block is stored when these samples of it shrink by less than 2% at level 1
_SAMPLE = 16 << 10
_STORE_RATIO = 0.98
#: compressed blocks queued between the compressor and the upload
_DEPTH = 8
_POLL = 0.2


def _incompressible(block: bytes) -> bool:
    """Whether a block's start, middle and end all resist compression."""
    view = memoryview(block)
    middle = max(len(block) // 2 - _SAMPLE // 2, 0)
    sample = b"".join((view[:_SAMPLE], view[middle:middle + _SAMPLE], view[-_SAMPLE:]))
    return len(deflate.deflate_compress(sample, 1)) >= len(sample) * _STORE_RATIO


def _member(block: bytes) -> bytes:
    """``block`` as one gzip member (stored when it does not compress)."""
    return bytes(deflate.gzip_compress(block, 0 if _incompressible(block) else LEVEL))


def gzip_pieces(src: BinaryIO, pool: ThreadPoolExecutor, ahead: int,
                on_read: Callable[[int], None] = lambda n: None) -> Iterator[bytes]:
    """The gzip of what ``src`` reads, one member per block, compressed on ``pool``
    (``ahead`` of them under way while the oldest is handed out), in order."""
    pending: collections.deque[Future[bytes]] = collections.deque()
    empty = True
    while block := src.read(BLOCK):
        empty = False
        pending.append(pool.submit(_member, block))
        on_read(len(block))
        while len(pending) > ahead:
            yield pending.popleft().result()
    for future in pending:
        yield future.result()
    if empty:
        yield _member(b"")  # a gzip file has at least one member


class _Cancelled(Exception):
    """The upload stopped taking bytes: the compressor stops too."""


class GzipStream:
    """Iterate (once) over the gzip of what ``opener`` reads; ``digest``/``size`` once it ended.

    ``on_read`` gets the count of uncompressed bytes read (the ``Pushing`` bar).
    """

    def __init__(self, opener: Callable[[], BinaryIO], on_read: Callable[[int], None] | None = None,
                 threads: int | None = None) -> None:
        self._opener, self._on_read = opener, on_read
        self._threads = threads or os.cpu_count() or 1
        self._hash = hashlib.sha256()
        self.size = 0
        self._stop = threading.Event()
        self._wake: Callable[[], None] = lambda: None

    def cancel(self) -> None:
        """Stop compressing, and end the iteration wherever it is (the upload gave up on it:
        the task iterating may be the HTTP client's, which is not ours to close)."""
        self._stop.set()
        self._wake()

    @property
    def digest(self) -> str:
        return "sha256:" + self._hash.hexdigest()

    async def __aiter__(self) -> AsyncIterator[bytes]:
        loop = asyncio.get_running_loop()
        ready: asyncio.Queue[bytes | None] = asyncio.Queue()
        slots = threading.Semaphore(_DEPTH)  # the loop frees one per piece it takes
        stop = self._stop
        self._wake = lambda: ready.put_nowait(None)

        def read(n: int) -> None:
            if self._on_read is not None:
                loop.call_soon_threadsafe(self._on_read, n)

        def compress() -> None:
            try:
                with self._opener() as src, ThreadPoolExecutor(self._threads) as pool:
                    for piece in gzip_pieces(src, pool, self._threads, read):
                        while not slots.acquire(timeout=_POLL):
                            if stop.is_set():
                                raise _Cancelled()
                        if stop.is_set():
                            raise _Cancelled()
                        self._hash.update(piece)
                        self.size += len(piece)
                        loop.call_soon_threadsafe(ready.put_nowait, piece)
            finally:
                loop.call_soon_threadsafe(ready.put_nowait, None)

        worker = asyncio.ensure_future(in_own_thread(compress))
        try:
            while (piece := await ready.get()) is not None:
                slots.release()
                yield piece
            await worker  # the reader's error (a layer that fails its diff ID) ends the stream
        finally:
            stop.set()
            if not worker.done():
                await asyncio.gather(worker, return_exceptions=True)
