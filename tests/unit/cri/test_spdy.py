"""SPDY/3.1 as client-go's spdystream speaks it: the frame codec, the server's
connection, and port forward's stream handling over loopback (no daemon)."""

from __future__ import annotations

import asyncio
import socket
import struct
import zlib
from typing import Any, Awaitable, Callable

import pytest

from wharf.cri import spdy
from wharf.cri.channels import CLOSE, RESIZE, STDIN, SpdyChannels
from wharf.cri.portforward import Forwarder
from wharf.cri.spdyconn import READ_BACKLOG, Connection, Stream


class ClientEncoder(spdy.Encoder):
    """The client's encoder: it also opens streams (the daemon never does)."""

    def syn_stream(self, stream_id: int, headers: dict[str, str], fin: bool = False) -> bytes:
        return self._control(spdy.SYN_STREAM, spdy.FLAG_FIN if fin else 0,
                             struct.pack(">IIH", stream_id, 0, 0) + self._headers(headers))


def test_dictionary_is_spdy3s() -> None:
    """A peer's zlib refuses a header block primed with any other dictionary: Go checks
    the Adler-32 the stream names (SPDY/3's is 0xe3c6a7c2)."""
    assert len(spdy.DICTIONARY) == 1423
    assert zlib.adler32(spdy.DICTIONARY) == 0xE3C6A7C2


def test_header_blocks_share_one_compression_stream() -> None:
    """Each direction is one zlib stream: the second block only decodes after the first."""
    enc, dec = ClientEncoder(), spdy.Decoder()
    wire = (enc.syn_stream(1, {"streamType": "error", "port": "80", "requestID": "0"}, fin=True)
            + enc.syn_stream(3, {"streamType": "data", "port": "80", "requestID": "0"})
            + enc.data(3, b"GET /", fin=True) + enc.ping(1) + enc.goaway(3))
    frames = [f for i in range(len(wire)) for f in dec.feed(wire[i:i + 1])]  # byte by byte
    assert frames == [
        spdy.SynStream(1, {"streamtype": "error", "port": "80", "requestid": "0"}, fin=True),
        spdy.SynStream(3, {"streamtype": "data", "port": "80", "requestid": "0"}),
        spdy.Data(3, b"GET /", fin=True), spdy.Ping(1), spdy.GoAway(3)]
    enc = ClientEncoder()
    enc.syn_stream(1, {"streamType": "error"})
    second = enc.syn_stream(3, {"streamType": "data"})
    with pytest.raises(spdy.ProtocolError):
        list(spdy.Decoder().feed(second))  # without the block before it


def test_large_data_is_split_with_fin_on_the_last_frame() -> None:
    payload = b"x" * (spdy.MAX_DATA + 10)
    frames = list(spdy.Decoder().feed(spdy.Encoder().data(5, payload, fin=True)))
    assert [(len(f.data), f.fin) for f in frames] == [(spdy.MAX_DATA, False), (10, True)]


def test_other_versions_are_refused() -> None:
    frame = bytearray(spdy.Encoder().ping(1))
    frame[1] = 2  # SPDY/2
    with pytest.raises(spdy.ProtocolError):
        list(spdy.Decoder().feed(bytes(frame)))


class Client:
    """The client's side of a Connection: frames in, the server's frames out."""

    def __init__(self, accept: Callable[[Stream], str | None],
                 pause: Callable[[bool], None] = lambda paused: None) -> None:
        self.enc, self.dec = ClientEncoder(), spdy.Decoder()
        self.got: list[spdy.Frame] = []
        self.arrived = asyncio.Event()

        async def write(data: bytes) -> None:
            self.got.extend(self.dec.feed(data))
            self.arrived.set()
        self.conn = Connection(write, accept, pause)

    def send(self, *frames: bytes) -> None:
        self.conn.feed(b"".join(frames))

    async def until(self, done: Callable[[list[spdy.Frame]], bool]) -> list[spdy.Frame]:
        while not done(self.got):
            self.arrived.clear()
            await asyncio.wait_for(self.arrived.wait(), 30)
        return self.got


def run(test: Callable[[], Awaitable[Any]]) -> Any:
    return asyncio.run(test())


def test_streams_are_replied_refused_and_read() -> None:
    async def main() -> None:
        c = Client(lambda s: None if s.header("streamType") else "no type")
        c.send(c.enc.syn_stream(1, {"streamType": "stdin"}), c.enc.syn_stream(3, {}),
               c.enc.syn_stream(4, {"streamType": "stdout"}),  # even: the server's numbers
               c.enc.data(1, b"abc"), c.enc.data(1, b"", fin=True), c.enc.ping(7))
        got = await c.until(lambda g: len(g) >= 4)
        assert got == [spdy.SynReply(1), spdy.RstStream(3, spdy.REFUSED_STREAM),
                       spdy.RstStream(4, spdy.PROTOCOL_ERROR), spdy.Ping(7)]
        stream = c.conn.streams[1]
        assert await stream.read() == b"abc" and await stream.read() == b""
        await stream.write(b"out")
        await stream.close()
        await c.conn.close()
        assert c.got[4:] == [spdy.Data(1, b"out"), spdy.Data(1, b"", fin=True),
                             spdy.GoAway(3)]  # the last stream answered, refused ones too
        assert c.conn.closed.is_set()
    run(main)


def test_reading_pauses_while_much_waits_unread() -> None:
    """The client does no flow control: the connection stops reading it while more than
    READ_BACKLOG bytes wait, and goes on once half of that is read; what comes on a
    stream this side never reads is dropped, not kept."""
    async def main() -> None:
        paused: list[bool] = []
        c = Client(lambda s: None, paused.append)
        c.send(c.enc.syn_stream(1, {"streamType": "stdin"}),
               c.enc.syn_stream(3, {"streamType": "stdout"}))
        c.conn.streams[3].discard()
        chunk = b"x" * (READ_BACKLOG // 4)
        c.send(*[c.enc.data(3, chunk)] * 8)
        assert paused == []
        c.send(*[c.enc.data(1, chunk)] * 5)
        assert paused == [True]
        for _ in range(2):
            await c.conn.streams[1].read()
        assert paused == [True]  # 3/4 of the backlog still wait
        await c.conn.streams[1].read()
        assert paused == [True, False]
        c.conn.feed_eof()
    run(main)


def _sizes_and_stdin(*resize_data: bytes) -> list[tuple[int, Any]]:
    """The inbound events of an attach whose resize stream carries ``resize_data`` (one
    frame each) and whose stdin sends "in": the sizes and stdin's data and end (asserted)."""
    async def main() -> list[tuple[int, Any]]:
        c = Client(lambda s: None)
        c.send(c.enc.syn_stream(1, {"streamType": "resize"}),
               c.enc.syn_stream(3, {"streamType": "stdin"}),
               *(c.enc.data(1, data, fin=i == len(resize_data) - 1)
                 for i, data in enumerate(resize_data)),
               c.enc.data(3, b"in", fin=True))
        channels = SpdyChannels(c.conn, {RESIZE: c.conn.streams[1], STDIN: c.conn.streams[3]})
        events = []
        async for event in channels.inbound():
            events.append(event)
            if event[0] == CLOSE:
                c.conn.feed_eof()  # the client goes: inbound ends
        return events
    events = run(main)
    assert [e for e in events if e[0] != RESIZE] == [(STDIN, b"in"), (CLOSE, bytes([STDIN]))]
    return [e for e in events if e[0] == RESIZE]


def test_resize_events_are_json_objects_across_frames() -> None:
    assert _sizes_and_stdin(b'{"Width":80,"Height":2', b'4}\n{"Width":1,', b'"Height":2}') == [
        (RESIZE, {"Width": 80, "Height": 24}), (RESIZE, {"Width": 1, "Height": 2})]


def test_a_malformed_resize_on_its_stream_is_dropped_and_the_next_one_read() -> None:
    """What is no terminal size (not JSON, not an object, a size past uint16) is dropped
    (the kubelet's decoder drops it); the sizes after it, and stdin, still come."""
    assert _sizes_and_stdin(b'}{oops\n', b'[1, 2] {"Width": 70000} "x"\n',
                            b'{"Width":80,"Height":24}') == [(RESIZE, {"Width": 80, "Height": 24})]


def test_port_forward_relays_a_connection_and_reports_a_refused_one() -> None:
    """Through the daemon's own namespace (a host-network pod's): an upper-casing echo
    server on loopback, and a port nothing listens on."""
    async def main() -> None:
        async def upper(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            writer.write((await reader.read()).upper())  # all until the client's FIN
            writer.close()
        server = await asyncio.start_server(upper, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            closed_port = s.getsockname()[1]
        forwarder = Forwarder("pod", "")
        c = Client(forwarder.accept)
        serving = asyncio.ensure_future(forwarder.serve(c.conn))
        try:
            h = {"port": str(port), "requestID": "0"}
            c.send(c.enc.syn_stream(1, {**h, "streamType": "error"}, fin=True),
                   c.enc.syn_stream(3, {**h, "streamType": "data"}),
                   c.enc.data(3, b"hello "), c.enc.data(3, b"pod", fin=True))
            await c.until(lambda g: spdy.Data(3, b"", fin=True) in g)
            assert b"".join(f.data for f in c.got if isinstance(f, spdy.Data)
                            and f.stream_id == 3) == b"HELLO POD"
            c.send(c.enc.rst_stream(3))  # client-go resets the data stream once done
            await c.until(lambda g: spdy.Data(1, b"", fin=True) in g)
            assert not [f for f in c.got if isinstance(f, spdy.Data) and f.stream_id == 1
                        and f.data]  # nothing on the error stream
            assert c.conn.streams == {}  # both done both ways: forgotten

            h = {"port": str(closed_port), "requestID": "1"}
            c.send(c.enc.syn_stream(5, {**h, "streamType": "error"}, fin=True),
                   c.enc.syn_stream(7, {**h, "streamType": "data"}))
            await c.until(lambda g: spdy.Data(5, b"", fin=True) in g)
            error = b"".join(f.data for f in c.got if isinstance(f, spdy.Data)
                             and f.stream_id == 5).decode()
            assert error.startswith(f"error forwarding port {closed_port} to pod pod: IPv4: ")
            assert "refused" in error

            c.send(c.enc.syn_stream(9, {"port": "0", "streamType": "data"}))  # no port 0
            await c.until(lambda g: spdy.RstStream(9, spdy.REFUSED_STREAM) in g)
        finally:
            c.conn.feed_eof()
            await asyncio.wait_for(serving, 30)
            server.close()
            await server.wait_closed()
    run(main)
