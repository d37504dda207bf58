"""Blocking file-likes over a request body and a streaming response, for code
running in a thread (``asyncio.to_thread``): archive readers and writers are
plain synchronous code that reads and writes file objects, and these let them
stream straight from and to the socket, never spooling a whole body in memory.
"""

from __future__ import annotations

import asyncio

from aiohttp import web

_CHUNK = 1 << 16


class BodyReader:
    """``read(n)`` over the request body."""

    def __init__(self, request: web.Request, loop: asyncio.AbstractEventLoop) -> None:
        self._content = request.content
        self._loop = loop

    async def _read(self, n: int) -> bytes:
        parts: list[bytes] = []
        while n != 0:
            chunk = await self._content.read(n if n > 0 else _CHUNK)
            if not chunk:
                break
            parts.append(chunk)
            n = n - len(chunk) if n > 0 else n
        return b"".join(parts)

    def read(self, n: int = -1) -> bytes:
        return asyncio.run_coroutine_threadsafe(self._read(n), self._loop).result()


class ResponseWriter:
    """``write(data)`` onto a streaming response, prepared at the first write: an error
    raised before any byte is written still reaches the client as a JSON error."""

    def __init__(self, request: web.Request, response: web.StreamResponse,
                 loop: asyncio.AbstractEventLoop) -> None:
        self._request, self._response, self._loop = request, response, loop

    async def _write(self, data: bytes) -> None:
        if not self._response.prepared:
            await self._response.prepare(self._request)
        await self._response.write(data)

    def write(self, data: bytes) -> int:
        asyncio.run_coroutine_threadsafe(self._write(bytes(data)), self._loop).result()
        return len(data)

    async def finish(self) -> web.StreamResponse:
        """End the response (prepared now if nothing was written)."""
        if not self._response.prepared:
            await self._response.prepare(self._request)
        await self._response.write_eof()
        return self._response


async def drain(request: web.Request) -> None:
    """Read what is left of a refused upload, so the client gets the error, not a broken pipe."""
    while await request.content.read(_CHUNK):
        pass


def response_writer(request: web.Request, content_type: str) -> ResponseWriter:
    return ResponseWriter(request, web.StreamResponse(headers={"Content-Type": content_type}),
                          asyncio.get_running_loop())


def body_reader(request: web.Request) -> BodyReader:
    return BodyReader(request, asyncio.get_running_loop())
