"""An exec's or attach's streams as Kubernetes' two transports carry them.

The relay (``wharf.cri.streaming``) sees channels: it sends stdout (1) and
stderr (2), receives stdin (0), stdin's end (255) and terminal sizes (4, as a
dict), and finishes with a ``metav1.Status``. ``WebSocketChannels`` is
``v5.channel.k8s.io`` (a channel byte before each message, the status on
channel 3); ``SpdyChannels`` is ``v4.channel.k8s.io`` over SPDY (one stream
per channel, by its ``streamType`` header: stdin's FIN is its end, the resize
stream a run of JSON objects, the status written to the error stream).

A resize message that is not a terminal size (not JSON, not an object, a size
that is no uint16) is dropped, logged at debug, as the kubelet's decoder drops
it: the attach and its stdin go on.
"""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any, AsyncIterator, Protocol

from aiohttp import WSMsgType, web

from wharf.cri.spdyconn import Connection, Stream

STDIN, STDOUT, STDERR, ERROR, RESIZE, CLOSE = 0, 1, 2, 3, 4, 255
STREAM_TYPES = {"stdin": STDIN, "stdout": STDOUT, "stderr": STDERR, "error": ERROR,
                "resize": RESIZE}
_SIZE_FIELDS = {"width": "Width", "height": "Height"}
#: More than this waiting for the end of one resize object is no resize (one is ~30 bytes).
_MAX_RESIZE_TEXT = 4096

log = logging.getLogger("wharf.cri")


def terminal_size(value: Any) -> dict[str, int] | None:
    """``{"Width", "Height"}`` of a decoded resize message as Go decodes it into
    remotecommand's TerminalSize (uint16 fields, names in any case, others ignored, a
    missing one 0); None for one Go refuses."""
    if not isinstance(value, dict):
        return None
    size = {"Width": 0, "Height": 0}
    for key, number in value.items():
        field = _SIZE_FIELDS.get(key.lower())
        if field is None or number is None:
            continue
        if isinstance(number, bool) or not isinstance(number, int) or not 0 <= number <= 0xFFFF:
            return None
        size[field] = number
    return size


def _dropped(message: Any) -> None:
    log.debug("ignoring a malformed terminal resize message: %.100r", message)


class Channels(Protocol):
    """``inbound`` ends when the client has gone."""

    async def send(self, channel: int, data: bytes) -> None: ...

    def inbound(self) -> AsyncIterator[tuple[int, Any]]: ...

    async def finish(self, status: dict[str, Any]) -> None: ...


class WebSocketChannels:
    def __init__(self, ws: web.WebSocketResponse) -> None:
        self.ws = ws

    async def send(self, channel: int, data: bytes) -> None:
        if not self.ws.closed:
            await self.ws.send_bytes(bytes([channel]) + data)

    async def inbound(self) -> AsyncIterator[tuple[int, Any]]:
        async for msg in self.ws:
            if msg.type != WSMsgType.BINARY or not msg.data:
                continue
            channel, data = msg.data[0], msg.data[1:]
            if channel == CLOSE:
                yield CLOSE, data[:1]
            elif channel == RESIZE:
                try:
                    size = terminal_size(json.loads(data))
                except ValueError:  # not JSON, or not UTF-8
                    size = None
                if size is None:
                    _dropped(data)
                else:
                    yield RESIZE, size
            else:
                yield channel, data

    async def finish(self, status: dict[str, Any]) -> None:
        if not self.ws.closed:
            await self.ws.send_bytes(bytes([ERROR]) + json.dumps(status).encode())
            await self.ws.close()


class SpdyChannels:
    """The streams of one SPDY connection, once the client opened all it must."""

    def __init__(self, conn: Connection, streams: dict[int, Stream]) -> None:
        self.conn, self.streams = conn, streams
        for channel in (STDOUT, STDERR, ERROR):  # the client only reads these
            if channel in streams:
                streams[channel].discard()

    async def send(self, channel: int, data: bytes) -> None:
        stream = self.streams.get(channel)
        if stream is not None:
            await stream.write(data)

    async def inbound(self) -> AsyncIterator[tuple[int, Any]]:
        events: asyncio.Queue[tuple[int, Any] | None] = asyncio.Queue()

        async def stdin(stream: Stream) -> None:
            while data := await stream.read():
                events.put_nowait((STDIN, data))
            events.put_nowait((CLOSE, bytes([STDIN])))

        async def resize(stream: Stream) -> None:
            decoder, text = json.JSONDecoder(), ""
            while data := await stream.read():
                text += data.decode(errors="replace")
                while text := text.lstrip():
                    try:
                        value, end = decoder.raw_decode(text)
                    except json.JSONDecodeError as e:
                        if _incomplete(e) and len(text) <= _MAX_RESIZE_TEXT:
                            break  # the rest of the object is still coming
                        _dropped(text)  # what follows may be whole objects again
                        text = ""
                        break
                    text = text[end:]
                    size = terminal_size(value)
                    if size is None:
                        _dropped(value)
                    else:
                        events.put_nowait((RESIZE, size))

        pumps = [asyncio.ensure_future(fn(self.streams[ch])) for ch, fn in
                 ((STDIN, stdin), (RESIZE, resize)) if ch in self.streams]
        done = asyncio.gather(*pumps)
        done.add_done_callback(lambda _: events.put_nowait(None))
        try:
            while (event := await events.get()) is not None:
                yield event
            await self.conn.closed.wait()  # the end of input is the client's going
        finally:
            done.cancel()
            await asyncio.gather(done, return_exceptions=True)

    async def finish(self, status: dict[str, Any]) -> None:
        for channel in (STDOUT, STDERR):
            if channel in self.streams:
                await self.streams[channel].close()
        if ERROR in self.streams:
            await self.streams[ERROR].write(json.dumps(status).encode())
            await self.streams[ERROR].close()
        await self.conn.close()


def _incomplete(e: json.JSONDecodeError) -> bool:
    """Whether the text ended inside a JSON value (more may come), not went wrong."""
    return e.pos >= len(e.doc) or e.msg.startswith("Unterminated string")


async def wait_for_streams(conn: Connection, opened: asyncio.Queue[Stream],
                           wanted: set[int]) -> dict[int, Stream]:
    """The streams by channel once every ``wanted`` one came (the kubelet counts them
    as they arrive); KeyError if the connection ended first."""
    streams: dict[int, Stream] = {}
    while not wanted <= streams.keys():
        get = asyncio.ensure_future(opened.get())
        closed = asyncio.ensure_future(conn.closed.wait())
        await asyncio.wait((get, closed), return_when=asyncio.FIRST_COMPLETED)
        closed.cancel()
        if not get.done():
            get.cancel()
            raise KeyError("the client went before opening its streams")
        stream = get.result()
        streams[STREAM_TYPES[stream.header("streamType")]] = stream
    return streams
