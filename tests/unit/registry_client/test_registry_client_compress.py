"""The push compressor: one valid gzip file from blocks compressed on threads, random blocks stored."""

from __future__ import annotations

import asyncio
import gzip
import hashlib
import io
import os
import random
import subprocess

import pytest

from wharf.registry.client.compress import BLOCK, GzipStream


def words(size: int) -> bytes:
    rnd = random.Random(7)
    vocabulary = [rnd.randbytes(4).hex() for _ in range(500)]
    return " ".join(rnd.choices(vocabulary, k=size // 8)).encode()[:size]


async def collect(stream: GzipStream) -> bytes:
    out = bytearray()
    async for piece in stream:
        out += piece
    return bytes(out)


@pytest.mark.parametrize("data", [b"", b"x", os.urandom(3 * BLOCK + 5) + words(4 * BLOCK), words(BLOCK)],
                         ids=["empty", "one byte", "mixed", "one block"])
@pytest.mark.parametrize("threads", [1, 3])
def test_one_valid_gzip_file(data: bytes, threads: int) -> None:
    read: list[int] = []
    stream = GzipStream(lambda: io.BytesIO(data), read.append, threads=threads)
    out = asyncio.run(collect(stream))
    assert gzip.decompress(out) == data
    assert subprocess.run(["gzip", "-t"], input=out).returncode == 0  # every member's CRC and size right
    assert stream.size == len(out) and stream.digest == "sha256:" + hashlib.sha256(out).hexdigest()
    assert sum(read) == len(data)


def test_random_blocks_are_stored_and_text_is_compressed() -> None:
    noise, text = os.urandom(4 * BLOCK), words(4 * BLOCK)
    stored = asyncio.run(collect(GzipStream(lambda: io.BytesIO(noise))))
    assert len(noise) < len(stored) < len(noise) * 1.001
    assert len(asyncio.run(collect(GzipStream(lambda: io.BytesIO(text))))) < len(text) // 2


def test_a_reader_error_ends_the_stream_with_it() -> None:
    class Corrupt(io.BytesIO):
        def read(self, n: int = -1) -> bytes:
            if self.tell() >= 2 * BLOCK:
                raise ValueError("could not verify layer data")
            return super().read(n)
    with pytest.raises(ValueError, match="could not verify"):
        asyncio.run(collect(GzipStream(lambda: Corrupt(os.urandom(4 * BLOCK)))))


def test_an_upload_that_stops_stops_the_compressor() -> None:
    """Closing the iteration returns only once the compressor let go of its source."""
    source = io.BytesIO(os.urandom(64 * BLOCK))

    async def first_piece_only() -> None:
        pieces = aiter(GzipStream(lambda: source))
        await anext(pieces)
        await pieces.aclose()
    asyncio.run(first_piece_only())
    assert source.closed
