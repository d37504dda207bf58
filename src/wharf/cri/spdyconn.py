"""A server's SPDY/3.1 connection on the event loop: the client opens streams, we
answer and read and write them (``wharf.cri.spdy`` does the bytes).

The connection is fed bytes by whatever carries it (an HTTP connection after
``101 Switching Protocols``, or binary websocket messages: client-go's
``SPDY/3.1+portforward.k8s.io`` tunnel) and writes through one coroutine, so
frames leave in the order they were made: a stream's SYN_REPLY before its
data. A new stream is shown to ``accept`` (a plain function: None accepts,
an error word refuses with RST_STREAM), as spdystream's server does; PINGs
are echoed; a GOAWAY stops new streams; the end of the input or ``close()``
end every stream.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Awaitable, Callable

from wharf.cri import spdy

log = logging.getLogger("wharf.cri")
#: bytes queued for the peer before a writer waits (the peer does no flow control)
WRITE_BACKLOG = 1 << 20
#: bytes received and not yet read before the connection stops reading (nor does it)
READ_BACKLOG = 1 << 20


class Stream:
    """One client-opened stream: ``read`` its data (b"" once the client finished
    or reset it), ``write`` to it, ``close`` our half (FIN); or ``discard`` what
    comes on one this side never reads."""

    def __init__(self, conn: Connection, stream_id: int, headers: dict[str, str]) -> None:
        self.conn, self.id, self.headers = conn, stream_id, headers
        self._inbound: asyncio.Queue[bytes] = asyncio.Queue()
        self._remote_done = self._local_done = self._discarding = False

    def header(self, name: str) -> str:
        return self.headers.get(name.lower(), "")

    async def read(self) -> bytes:
        data = await self._inbound.get()
        if not data:
            self._inbound.put_nowait(b"")  # every later read sees the end too
        self.conn._consumed(len(data))
        return data

    def discard(self) -> None:
        self._discarding = True
        while not self._inbound.empty():
            self.conn._consumed(len(self._inbound.get_nowait()))
        if self._remote_done:
            self._inbound.put_nowait(b"")

    async def write(self, data: bytes) -> None:
        if data and not self._local_done and not self.conn.closed.is_set():
            await self.conn.send(self.conn.encoder.data(self.id, data))

    async def close(self) -> None:
        if not self._local_done:
            self._local_done = True
            self._retire()
            await self.conn.send(self.conn.encoder.data(self.id, b"", fin=True))

    def _received(self, data: bytes) -> None:
        if data and not self._remote_done and not self._discarding:
            self._inbound.put_nowait(data)
            self.conn._buffered(len(data))

    def _end(self) -> None:
        if not self._remote_done:
            self._remote_done = True
            self._inbound.put_nowait(b"")
        self._retire()

    def _retire(self) -> None:
        """Done both ways: the connection forgets it (a long port forward opens many)."""
        if self._local_done and self._remote_done:
            self.conn.streams.pop(self.id, None)


class Connection:
    """``pause(True)`` is asked to stop reading from the client while more than
    READ_BACKLOG bytes wait to be read, ``pause(False)`` to go on."""

    def __init__(self, write: Callable[[bytes], Awaitable[None]],
                 accept: Callable[[Stream], str | None],
                 pause: Callable[[bool], None] = lambda paused: None) -> None:
        self._write, self._accept, self._pause = write, accept, pause
        self.decoder, self.encoder = spdy.Decoder(), spdy.Encoder()
        self.streams: dict[int, Stream] = {}
        self.closed = asyncio.Event()
        self._last_id = 0
        self._gone_away = False
        self._unread = 0
        self._paused = False
        self._out: asyncio.Queue[bytes | None] = asyncio.Queue()
        self._backlog = 0
        self._drained = asyncio.Event()
        self._drained.set()
        self._writer = asyncio.ensure_future(self._write_loop())

    # -- input ----------------------------------------------------------------
    def feed(self, data: bytes) -> None:
        """Bytes from the client; a protocol error ends the connection."""
        if self.closed.is_set():
            return
        try:
            for frame in self.decoder.feed(data):
                self._dispatch(frame)
        except spdy.ProtocolError as e:
            log.debug("spdy: %s", e)
            self._shut()

    def feed_eof(self) -> None:
        self._shut()

    def _dispatch(self, frame: spdy.Frame) -> None:
        if isinstance(frame, spdy.Data):
            stream = self.streams.get(frame.stream_id)
            if stream is not None:
                stream._received(frame.data)
                if frame.fin:
                    stream._end()
        elif isinstance(frame, spdy.SynStream):
            self._open(frame)
        elif isinstance(frame, spdy.RstStream):
            stream = self.streams.get(frame.stream_id)
            if stream is not None:
                stream._local_done = True
                stream._end()
        elif isinstance(frame, spdy.Ping):
            self._queue(self.encoder.ping(frame.id))
        elif isinstance(frame, spdy.GoAway):
            self._gone_away = True  # no new streams; the open ones go on

    def _open(self, frame: spdy.SynStream) -> None:
        sid = frame.stream_id
        if self._gone_away or sid % 2 == 0 or sid <= self._last_id:  # odd and increasing
            self._queue(self.encoder.rst_stream(sid, spdy.PROTOCOL_ERROR))
            return
        self._last_id = sid
        stream = Stream(self, sid, frame.headers)
        refused = self._accept(stream)
        if refused:
            log.debug("spdy: stream %d refused: %s", sid, refused)
            self._queue(self.encoder.rst_stream(sid, spdy.REFUSED_STREAM))
            return
        self.streams[sid] = stream
        self._queue(self.encoder.syn_reply(sid))
        if frame.fin:
            stream._end()

    def _buffered(self, size: int) -> None:
        self._unread += size
        if self._unread > READ_BACKLOG and not self._paused:
            self._paused = True
            self._pause(True)

    def _consumed(self, size: int) -> None:
        self._unread -= size
        if self._paused and self._unread <= READ_BACKLOG // 2:
            self._paused = False
            self._pause(False)

    # -- output ---------------------------------------------------------------
    async def send(self, frame: bytes) -> None:
        """Queue a frame; wait while the peer is far behind."""
        self._queue(frame)
        while self._backlog > WRITE_BACKLOG and not self.closed.is_set():
            self._drained.clear()
            await self._drained.wait()

    def _queue(self, frame: bytes) -> None:
        self._backlog += len(frame)
        self._out.put_nowait(frame)

    async def _write_loop(self) -> None:
        try:
            while (frame := await self._out.get()) is not None:
                await self._write(frame)
                self._backlog -= len(frame)
                if self._backlog <= WRITE_BACKLOG:
                    self._drained.set()
        except (ConnectionError, RuntimeError, asyncio.CancelledError):
            pass
        finally:
            self._shut()
            self._drained.set()

    async def close(self) -> None:
        """GOAWAY after what is queued, then stop writing."""
        if not self._writer.done():
            self._queue(self.encoder.goaway(self._last_id))
            self._out.put_nowait(None)
            await asyncio.gather(self._writer, return_exceptions=True)
        self._shut()

    def _shut(self) -> None:
        if self.closed.is_set():
            return
        self.closed.set()
        self._drained.set()
        if self._paused:
            self._paused = False
            self._pause(False)
        for stream in list(self.streams.values()):
            stream._local_done = True
            stream._end()
        if not self._writer.done() and self._writer is not asyncio.current_task():
            self._out.put_nowait(None)
