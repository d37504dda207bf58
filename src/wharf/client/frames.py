"""Docker's multiplexed stream format: an 8-byte header, then the payload.

Header: ``[stream, 0, 0, 0, size(u32 big-endian)]``; stream 0 stdin, 1
stdout, 2 stderr, 255 a JSON control message. Without a tty, logs, attach and
exec carry this format; with one the stream is raw bytes.
"""

from __future__ import annotations

import struct
from typing import BinaryIO, Iterator, Protocol

STDOUT = 1
STDERR = 2
CONTROL = 255
_HEADER = struct.Struct(">BxxxL")


class Reader(Protocol):
    def read_exact(self, n: int) -> bytes: ...


def encode(stream: int, payload: bytes) -> bytes:
    """One frame (the daemon's side; the tests use it to build streams)."""
    return _HEADER.pack(stream, len(payload)) + payload


def frames(reader: Reader) -> Iterator[tuple[int, bytes]]:
    """(stream, payload) for each frame until EOF; a truncated tail is dropped."""
    while True:
        header = reader.read_exact(_HEADER.size)
        if len(header) < _HEADER.size:
            return
        stream, size = _HEADER.unpack(header)
        payload = reader.read_exact(size)
        if len(payload) < size:
            return
        yield stream, payload


def demux(reader: Reader, stdout: BinaryIO, stderr: BinaryIO) -> list[bytes]:
    """Copy stdout/stderr frames to the two files, flushing as they come.

    Returns the payloads of control frames (stream 255), which are not output.
    """
    control = []
    for stream, payload in frames(reader):
        if stream == CONTROL:
            control.append(payload)
            continue
        out = stderr if stream == STDERR else stdout
        out.write(payload)
        out.flush()
    return control
