"""Docker's multiplexed stream frames, shared by the shim and its clients.

An 8-byte header ``[stream, 0, 0, 0, length (u32 big-endian)]`` then the
payload: stream 1 stdout, 2 stderr, 255 a JSON control message (the exit code
that ends an exec stream).
"""

from __future__ import annotations

import json
import socket
import struct
from typing import Any, Iterator

STDOUT = 1
STDERR = 2
CONTROL = 255

_HEADER = struct.Struct(">BxxxI")
STREAMS = {"stdout": STDOUT, "stderr": STDERR}


def frame(stream: int, payload: bytes) -> bytes:
    return _HEADER.pack(stream, len(payload)) + payload


def control(message: dict[str, Any]) -> bytes:
    return frame(CONTROL, json.dumps(message).encode())


def _recv_exactly(sock: socket.socket, size: int) -> bytes | None:
    buf = bytearray()
    while len(buf) < size:
        chunk = sock.recv(size - len(buf))
        if not chunk:
            return None
        buf += chunk
    return bytes(buf)


def read_frames(sock: socket.socket) -> Iterator[tuple[int, bytes]]:
    """(stream, payload) pairs until the shim closes the stream."""
    while (header := _recv_exactly(sock, _HEADER.size)) is not None:
        stream, size = _HEADER.unpack(header)
        payload = _recv_exactly(sock, size)
        if payload is None:
            return
        yield stream, payload
