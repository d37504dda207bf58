"""Docker's multiplexed stream format: an 8-byte header, then the payload.

Header: ``[stream, 0, 0, 0, size(u32 big-endian)]``; stream 0 stdin, 1
stdout, 2 stderr, 255 a JSON control message. Without a tty, logs, attach and
exec carry this format; with one the stream is raw bytes.
"""

from __future__ import annotations

import struct
TYPE_CHECKING = False  # typing costs the CLI ~6 ms of import time
if TYPE_CHECKING:
    from typing import BinaryIO, Iterable, Iterator

STDOUT = 1
STDERR = 2
CONTROL = 255
_HEADER = struct.Struct(">BxxxL")


def encode(stream: int, payload: bytes) -> bytes:
    """One frame (the daemon's side; the tests use it to build streams)."""
    return _HEADER.pack(stream, len(payload)) + payload


class Demuxer:
    """Splits a multiplexed byte stream into frames, whatever the pieces it arrives in.

    Incremental (``feed`` any chunk) because attach output comes from a
    select loop and logs from a chunked body: neither hands out whole frames.
    """

    def __init__(self) -> None:
        self._buf = b""

    def feed(self, data: bytes) -> Iterator[tuple[int, bytes]]:
        """The (stream, payload) of each frame that ``data`` completes."""
        self._buf += data
        while len(self._buf) >= _HEADER.size:
            stream, size = _HEADER.unpack_from(self._buf)
            end = _HEADER.size + size
            if len(self._buf) < end:
                return
            payload, self._buf = self._buf[_HEADER.size:end], self._buf[end:]
            yield stream, payload


def write_frames(demuxer: Demuxer, data: bytes, stdout: BinaryIO, stderr: BinaryIO) -> None:
    """Copy the frames ``data`` completes to stdout/stderr, flushing; control frames are not output."""
    for stream, payload in demuxer.feed(data):
        if stream == CONTROL:
            continue
        out = stderr if stream == STDERR else stdout
        out.write(payload)
        out.flush()


def copy_stream(chunks: Iterable[bytes], stdout: BinaryIO, stderr: BinaryIO, tty: bool) -> None:
    """Copy a whole output stream (logs): raw with a tty, demultiplexed without."""
    demuxer = Demuxer()
    for data in chunks:
        if tty:
            stdout.write(data)
            stdout.flush()
        else:
            write_frames(demuxer, data, stdout, stderr)
