"""PortForward over the kubelet's websocket channels (``v4.channel.k8s.io``, or no
subprotocol): what a websocket client that does not tunnel SPDY asks for (the
Python client, through a kubelet that proxies it here).

The ports come in the URL's query (``?port=80&port=8080`` or ``port=80,8080``),
one connection to each for the whole websocket: port i is relayed on channel
2i (data) and 2i+1 (error), every message a channel byte and its data. The
server's first message on each channel is the port, 2 bytes little-endian.
No message ends a channel: a port's relay ends when the pod ends its
connection or the client closes the websocket, and the websocket is closed
once every port's relay is done.
"""

from __future__ import annotations

import asyncio
import struct

from aiohttp import WSMsgType, web

from wharf.cri.portforward import Forwarder, valid_port
from wharf.cri.spdyconn import READ_BACKLOG

PROTOCOL = "v4.channel.k8s.io"


def ports(query: list[str]) -> list[int]:
    """The ``port`` query values; ValueError names a bad one (the kubelet's words)."""
    out = []
    for value in query:
        for text in value.split(","):
            if not valid_port(text):
                raise ValueError(f'unable to parse "{value}" as a port')
            out.append(int(text))
    if not out:
        raise ValueError('query parameter "port" is required')
    return out


class _Channel:
    """One channel of the websocket, as ``Forwarder.forward`` reads and writes it."""

    def __init__(self, ws: web.WebSocketResponse, number: int) -> None:
        self.ws, self.number = ws, number
        self.inbound: asyncio.Queue[bytes] = asyncio.Queue()
        self._discarding = False
        self._unread = 0
        self._room = asyncio.Event()  # set while fewer than READ_BACKLOG bytes wait
        self._room.set()

    async def read(self) -> bytes:
        data = await self.inbound.get()
        if not data:
            self.inbound.put_nowait(b"")
        self._unread -= len(data)
        if self._unread < READ_BACKLOG:
            self._room.set()
        return data

    async def write(self, data: bytes) -> None:
        if data and not self.ws.closed:
            await self.ws.send_bytes(bytes([self.number]) + data)

    async def close(self) -> None:
        """No frame says so: the pod's end of a port ends its relay (what the client
        still sends is dropped), and the websocket closes when every port's ended."""
        self.discard()
        self.inbound.put_nowait(b"")

    def discard(self) -> None:
        self._discarding = True
        self._room.set()

    def received(self, data: bytes) -> None:
        if not self._discarding:
            self.inbound.put_nowait(data)
            self._unread += len(data)
            if self._unread >= READ_BACKLOG:
                self._room.clear()

    async def room(self) -> None:
        """Until the pod has read enough of what the client sent (SPDY's pause, here by
        no longer reading the websocket): a fast client cannot fill wharfd's memory."""
        await self._room.wait()


async def serve(ws: web.WebSocketResponse, forwarder: Forwarder, wanted: list[int]) -> None:
    """Relay each of ``wanted`` until all are done or the client goes."""
    channels = [_Channel(ws, n) for n in range(2 * len(wanted))]
    for i, port in enumerate(wanted):
        for channel in channels[2 * i:2 * i + 2]:
            await channel.write(struct.pack("<H", port))
    relays = asyncio.gather(*(forwarder.forward(channels[2 * i], channels[2 * i + 1], port)
                              for i, port in enumerate(wanted)))

    async def pump() -> None:
        async for msg in ws:
            if msg.type == WSMsgType.BINARY and msg.data and msg.data[0] < len(channels):
                channel = channels[msg.data[0]]
                channel.received(msg.data[1:])
                await channel.room()
        for channel in channels:
            channel.received(b"")
    reading = asyncio.ensure_future(pump())
    try:
        await relays
    finally:
        relays.cancel()
        reading.cancel()
        await asyncio.gather(relays, reading, return_exceptions=True)
        await ws.close()
