"""A layer's tar as one gzip stream, made on every core while the upload sends it.

Push sends layers gzip-compressed, as dockerd does (Docker's media type
``rootfs.diff.tar.gzip``). zlib-ng's threaded writer compresses blocks of
the tar on several threads at once (zlib releases the GIL), each block primed
with the last 32 KiB of the one before, and writes them in order as one
valid gzip member (pigz's method). The compressed bytes are handed to the
loop as they come, so compression and upload overlap; their digest and size
are known when the stream ends, in time for the upload's closing PUT. A
bounded number of blocks wait between the two: a slow registry slows the
compressor instead of filling memory.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import threading
from typing import AsyncIterator, BinaryIO, Callable

from zlib_ng import gzip_ng_threaded

from wharf.threads import in_own_thread

#: zlib's default level: no more bytes than Docker's gzip (Go's level 6), at zlib-ng's speed
LEVEL = 6
#: compressed blocks queued between the compressor and the upload
_DEPTH = 8
_READ = 1 << 20
_POLL = 0.2


class _Cancelled(Exception):
    """The upload stopped taking bytes: the compressor stops too."""


class _Sink:
    """What the compressor's writer thread writes to: each block handed to ``deliver`` once
    one of the ``slots`` is free (the loop frees one per block it takes)."""

    def __init__(self, deliver: Callable[[bytes], None], slots: threading.Semaphore,
                 stop: threading.Event) -> None:
        self._deliver, self._slots, self._stop = deliver, slots, stop

    def write(self, data: bytes) -> int:
        while not self._slots.acquire(timeout=_POLL):
            if self._stop.is_set():
                raise _Cancelled()
        if self._stop.is_set():
            raise _Cancelled()
        self._deliver(bytes(data))
        return len(data)

    def flush(self) -> None:
        pass


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

    @property
    def digest(self) -> str:
        return "sha256:" + self._hash.hexdigest()

    async def __aiter__(self) -> AsyncIterator[bytes]:
        loop = asyncio.get_running_loop()
        ready: asyncio.Queue[bytes | None] = asyncio.Queue()
        slots = threading.Semaphore(_DEPTH)
        stop = threading.Event()

        def deliver(block: bytes) -> None:
            self._hash.update(block)
            self.size += len(block)
            loop.call_soon_threadsafe(ready.put_nowait, block)

        def compress() -> None:
            try:
                with self._opener() as src, gzip_ng_threaded.open(
                        _Sink(deliver, slots, stop), "wb", compresslevel=LEVEL, threads=self._threads) as gz:
                    while chunk := src.read(_READ):
                        if stop.is_set():
                            raise _Cancelled()
                        gz.write(chunk)
                        if self._on_read is not None:
                            loop.call_soon_threadsafe(self._on_read, len(chunk))
            finally:
                loop.call_soon_threadsafe(ready.put_nowait, None)

        worker = asyncio.ensure_future(in_own_thread(compress))
        try:
            while (block := await ready.get()) is not None:
                slots.release()
                yield block
            await worker  # the reader's error (a layer that fails its diff ID) ends the stream
        finally:
            stop.set()
            if not worker.done():
                await asyncio.gather(worker, return_exceptions=True)
