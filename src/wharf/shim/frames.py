"""Docker's multiplexed stream frames, shared by the shim and its clients.

An 8-byte header ``[stream, 0, 0, 0, length (u32 big-endian)]`` then the
payload: stream 1 stdout, 2 stderr, 255 a JSON control message (the exit code
that ends an exec stream).

Read here, once, for both kinds of client: ``read_frames`` on a blocking socket
(tests, tools), ``Output`` on the daemon's asyncio streams (its API, its CRI and
its exec drains). No asyncio import: the shim imports this module too.
"""

from __future__ import annotations

import json
import socket
import struct
from typing import Any, AsyncIterator, Iterator, Protocol

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


class _StreamReader(Protocol):
    """What ``Output`` reads from: ``asyncio.StreamReader``."""

    async def readexactly(self, n: int) -> bytes: ...


class Output:
    """An attach's or exec's stream on asyncio: ``async for stream, payload in out``
    yields the output frames until the shim ends the stream (or the connection
    breaks), and sets the control message aside as ``out.control`` (None when none
    came: the stream was cut, or the reader stopped before its end)."""

    def __init__(self, reader: _StreamReader) -> None:
        self._reader = reader
        self.control: dict[str, Any] | None = None

    async def __aiter__(self) -> AsyncIterator[tuple[int, bytes]]:
        while True:
            try:
                stream, size = _HEADER.unpack(await self._reader.readexactly(_HEADER.size))
                payload = await self._reader.readexactly(size)
            except (EOFError, ConnectionError):  # asyncio's IncompleteReadError is an EOFError
                return
            if stream == CONTROL:
                self.control = json.loads(payload)
            else:
                yield stream, payload

    def exit_code(self, default: int) -> int:
        """The exit code the control message reported, else ``default``."""
        return int((self.control or {}).get("exit_code", default))
