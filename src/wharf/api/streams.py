"""Hijacked connections (attach, exec start) and Docker's stream framing.

Docker answers ``101 UPGRADED`` (when the client asked for ``Upgrade: tcp``)
or ``200``, then the HTTP connection is a raw duplex pipe: output frames (or
raw bytes with a tty) one way, stdin the other, and a client half-close as
stdin EOF. aiohttp gives us that through ``set_parser``, the hook websockets
use: every later byte from the client goes to our feed instead of the HTTP
parser.

Long-poll streams (events, ``logs -f``, stats, wait) end with their client:
aiohttp leaves a handler running after the connection is lost (rightly for
work that must finish, a create or a pull), so one that only waits for its
next item would hold its subscription, thread and memory until that item,
maybe forever. ``end_with_client`` cancels such a handler when its
connection goes, as Go's request context does for dockerd.
"""

from __future__ import annotations

import asyncio
import socket

from aiohttp import web

from wharf.linux import syscalls

RAW = "application/vnd.docker.raw-stream"
#: How long a hijack waits for its client to read the upgrade answer.
HEADERS_READ_WAIT = 1.0
MULTIPLEXED = "application/vnd.docker.multiplexed-stream"


class _RawResponse(web.StreamResponse):
    """A response whose body is written as is: no chunking, no length."""

    _length_check = False


class _Feed:
    """The payload parser aiohttp feeds once the connection is hijacked."""

    def __init__(self) -> None:
        self.queue: asyncio.Queue[bytes] = asyncio.Queue()

    def feed_data(self, data: bytes) -> tuple[bool, bytes]:
        self.queue.put_nowait(bytes(data))
        return False, b""

    def feed_eof(self) -> None:
        self.queue.put_nowait(b"")


class _Wrapper(asyncio.Protocol):
    """Sits between a transport and aiohttp's protocol, forwarding every event;
    subclasses step in on the one they need."""

    def __init__(self, inner: asyncio.Protocol) -> None:
        self.inner = inner

    def data_received(self, data: bytes) -> None:
        self.inner.data_received(data)

    def eof_received(self) -> bool | None:
        return self.inner.eof_received()

    def connection_lost(self, exc: Exception | None) -> None:
        self.inner.connection_lost(exc)

    def pause_writing(self) -> None:
        self.inner.pause_writing()

    def resume_writing(self) -> None:
        self.inner.resume_writing()


class _HalfClose(_Wrapper):
    """A client's half-close (``shutdown(SHUT_WR)``, which is how ``docker attach``
    says stdin EOF) keeps the connection open for the output still to come;
    aiohttp itself would close the transport."""

    def __init__(self, inner: asyncio.Protocol, feed: _Feed) -> None:
        super().__init__(inner)
        self.feed = feed

    def eof_received(self) -> bool:
        self.feed.feed_eof()
        return True


class _CancelOnLoss(_Wrapper):
    """Cancels the handler that is streaming on this connection when it is lost.

    One per connection: a keep-alive client's next long poll takes the slot.
    """

    task: asyncio.Task[object] | None = None

    def connection_lost(self, exc: Exception | None) -> None:
        super().connection_lost(exc)
        if self.task is not None:
            self.task.cancel()


def end_with_client(request: web.Request) -> None:
    """Cancel the calling handler as soon as its client's connection is lost.

    Only for handlers that hold nothing a cancellation could leave half-done.
    """
    transport = request.transport
    if transport is None or transport.is_closing():
        raise ConnectionResetError("the client went away")
    watch = transport.get_protocol()
    if not isinstance(watch, _CancelOnLoss):
        watch = _CancelOnLoss(watch)
        transport.set_protocol(watch)
    watch.task = asyncio.current_task()


class Hijacked:
    """The client's side of a hijacked connection."""

    def __init__(self, response: web.StreamResponse, feed: _Feed) -> None:
        self.response = response
        self._feed = feed
        self.closed = False

    async def write(self, data: bytes) -> None:
        if self.closed:
            return
        try:
            await self.response.write(data)
        except (ConnectionError, RuntimeError):
            self.closed = True

    async def read(self) -> bytes:
        """Bytes the client sent; b"" once it half-closed or went away."""
        return await self._feed.queue.get()


async def _headers_read(request: web.Request) -> None:
    """Wait (on a unix socket, briefly) until the client has read the upgrade answer.

    docker-py reads the answer through a buffered reader, then the stream from the
    raw socket under it: output that arrived with the headers is in that buffer,
    lost. dockerd's exec starts slowly enough that its output never comes with
    them; wharf's can (``exec_start`` of ``whoami`` got nothing, now and then)."""
    transport = request.transport
    sock = transport.get_extra_info("socket") if transport is not None else None
    if transport is None or sock is None or sock.family != socket.AF_UNIX:
        return
    loop = asyncio.get_running_loop()
    deadline = loop.time() + HEADERS_READ_WAIT
    delay = 0.0002
    while loop.time() < deadline and not transport.is_closing():
        try:
            if not transport.get_write_buffer_size() and not syscalls.unread_sent(sock.fileno()):
                return
        except OSError:
            return
        await asyncio.sleep(delay)
        delay = min(delay * 2, 0.01)


async def hijack(request: web.Request, multiplexed: bool) -> Hijacked:
    """Send the upgrade answer and take over the connection."""
    upgrade = ("upgrade" in request.headers.get("Connection", "").lower()
               and request.headers.get("Upgrade"))
    response = _RawResponse(status=101 if upgrade else 200,
                            reason="UPGRADED" if upgrade else "OK")
    response.content_type = MULTIPLEXED if multiplexed else RAW
    if upgrade:
        response.headers["Connection"] = "Upgrade"
        response.headers["Upgrade"] = "tcp"
    response.force_close()
    await response.prepare(request)
    await response.write(b"")  # the headers go out now, not with the first output
    feed = _Feed()
    assert request.protocol is not None
    request.protocol.set_parser(feed)  # type: ignore[arg-type]
    assert request.transport is not None
    request.transport.set_protocol(_HalfClose(request.protocol, feed))
    await _headers_read(request)  # what the client sends meanwhile goes to the feed
    return Hijacked(response, feed)
