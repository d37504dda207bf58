"""SPDY/3.1 frames: what Kubernetes' streaming clients (client-go over moby's
spdystream: crictl, critest, the kubelet's proxies) speak after ``Upgrade: SPDY/3.1``.

Sans-IO: ``Decoder.feed(bytes)`` yields the frames complete so far, ``Encoder``
turns frames into bytes. Header blocks (SYN_STREAM, SYN_REPLY, HEADERS) are
zlib-compressed with one stream per direction for the whole connection,
primed with SPDY/3's dictionary, each block ending in a sync flush; so one
Decoder and one Encoder serve one connection, in order. Flow control
(WINDOW_UPDATE, SETTINGS) is parsed and left alone: spdystream neither sends
window updates nor honours them, and a sender that waited for them would stall.
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass, field
from typing import Iterator, Union

VERSION = 3
SYN_STREAM, SYN_REPLY, RST_STREAM, SETTINGS, PING, GOAWAY, HEADERS, WINDOW_UPDATE = (
    1, 2, 3, 4, 6, 7, 8, 9)
FLAG_FIN, FLAG_UNIDIRECTIONAL = 0x01, 0x02
# RST_STREAM status codes used here
PROTOCOL_ERROR, REFUSED_STREAM, CANCEL = 1, 3, 5
MAX_DATA = (1 << 24) - 1  # a frame's length field is 24 bits

# SPDY/3's header dictionary (section 2.6.10.1 of the draft): length-prefixed
# header names and words, then a run of common values.
_WORDS = (
    "options head post put delete trace accept accept-charset accept-encoding accept-language "
    "accept-ranges age allow authorization cache-control connection content-base "
    "content-encoding content-language content-length content-location content-md5 "
    "content-range content-type date etag expect expires from host if-match "
    "if-modified-since if-none-match if-range if-unmodified-since last-modified location "
    "max-forwards pragma proxy-authenticate proxy-authorization range referer retry-after "
    "server te trailer transfer-encoding upgrade user-agent vary via warning "
    "www-authenticate method get status 200_OK version HTTP/1.1 url public set-cookie "  # _: " "
    "keep-alive origin").split()
_TAIL = (
    "100101201202205206300302303304305306307402405406407408409410411412413414415416417502504505"
    "203 Non-Authoritative Information204 No Content301 Moved Permanently400 Bad Request"
    "401 Unauthorized403 Forbidden404 Not Found500 Internal Server Error501 Not Implemented"
    "503 Service UnavailableJan Feb Mar Apr May Jun Jul Aug Sept Oct Nov Dec 00:00:00 "
    "Mon, Tue, Wed, Thu, Fri, Sat, Sun, GMTchunked,text/html,image/png,image/jpg,image/gif,"
    "application/xml,application/xhtml+xml,text/plain,text/javascript,publicprivatemax-age="
    "gzip,deflate,sdchcharset=utf-8charset=iso-8859-1,utf-,*,enq=0.")
DICTIONARY = b"".join(struct.pack(">I", len(w)) + w.replace("_", " ").encode()
                     for w in _WORDS) + _TAIL.encode()


class ProtocolError(Exception):
    """The peer sent what SPDY/3.1 does not allow; the connection cannot go on."""


@dataclass
class Data:
    stream_id: int
    data: bytes
    fin: bool = False


@dataclass
class SynStream:
    stream_id: int
    #: lower-case names; a name sent with several (NUL-separated) values keeps the first
    headers: dict[str, str] = field(default_factory=dict)
    fin: bool = False


@dataclass
class SynReply:
    stream_id: int
    headers: dict[str, str] = field(default_factory=dict)
    fin: bool = False


@dataclass
class RstStream:
    stream_id: int
    status: int


@dataclass
class Ping:
    id: int


@dataclass
class GoAway:
    last_good: int
    status: int = 0


@dataclass
class Other:
    """A frame this side has no use for (SETTINGS, HEADERS, WINDOW_UPDATE, unknown)."""
    type: int


Frame = Union[Data, SynStream, SynReply, RstStream, Ping, GoAway, Other]


class Decoder:
    """Bytes in, frames out, for one direction of one connection."""

    def __init__(self) -> None:
        self._buf = bytearray()
        self._inflate = zlib.decompressobj(zdict=DICTIONARY)

    def feed(self, data: bytes) -> Iterator[Frame]:
        self._buf += data
        while len(self._buf) >= 8:
            first, flags_length = struct.unpack_from(">II", self._buf)
            length = flags_length & 0xFFFFFF
            if len(self._buf) < 8 + length:
                return
            flags, body = flags_length >> 24, bytes(self._buf[8:8 + length])
            del self._buf[:8 + length]
            if first & 0x80000000:
                yield self._control((first >> 16) & 0x7FFF, first & 0xFFFF, flags, body)
            else:
                yield Data(first & 0x7FFFFFFF, body, bool(flags & FLAG_FIN))

    def _control(self, version: int, kind: int, flags: int, body: bytes) -> Frame:
        if version != VERSION:
            raise ProtocolError(f"SPDY version {version}, not {VERSION}")
        fin = bool(flags & FLAG_FIN)
        try:
            if kind == SYN_STREAM:
                (sid,) = struct.unpack_from(">I", body)
                return SynStream(sid & 0x7FFFFFFF, self._headers(body[10:]), fin)
            if kind in (SYN_REPLY, HEADERS):
                (sid,) = struct.unpack_from(">I", body)
                headers = self._headers(body[4:])  # inflated even if unused: one zlib stream
                if kind == HEADERS:
                    return Other(kind)
                return SynReply(sid & 0x7FFFFFFF, headers, fin)
            if kind == RST_STREAM:
                sid, status = struct.unpack_from(">II", body)
                return RstStream(sid & 0x7FFFFFFF, status)
            if kind == PING:
                return Ping(struct.unpack_from(">I", body)[0])
            if kind == GOAWAY:
                sid, status = struct.unpack_from(">II", body) if len(body) >= 8 else (
                    struct.unpack_from(">I", body)[0], 0)
                return GoAway(sid & 0x7FFFFFFF, status)
        except (struct.error, zlib.error) as e:
            raise ProtocolError(f"malformed control frame {kind}: {e}") from e
        return Other(kind)

    def _headers(self, block: bytes) -> dict[str, str]:
        raw = self._inflate.decompress(block)
        (count,), pos, out = struct.unpack_from(">I", raw), 4, {}
        for _ in range(count):
            (n,) = struct.unpack_from(">I", raw, pos)
            name = raw[pos + 4:pos + 4 + n].decode("latin-1").lower()
            pos += 4 + n
            (n,) = struct.unpack_from(">I", raw, pos)
            value = raw[pos + 4:pos + 4 + n].decode("latin-1")
            pos += 4 + n
            out.setdefault(name, value.split("\0", 1)[0])
        return out


class Encoder:
    """Frames to bytes for the other direction (the compressor's state is kept)."""

    def __init__(self) -> None:
        self._deflate = zlib.compressobj(9, zdict=DICTIONARY)

    def data(self, stream_id: int, data: bytes, fin: bool = False) -> bytes:
        """One frame per MAX_DATA bytes; ``fin`` on the last (an empty one for none)."""
        out, view = [], memoryview(data)
        while True:
            chunk, view = view[:MAX_DATA], view[MAX_DATA:]
            last = not len(view)
            flags = FLAG_FIN if fin and last else 0
            out.append(struct.pack(">II", stream_id & 0x7FFFFFFF, flags << 24 | len(chunk)))
            out.append(bytes(chunk))
            if last:
                return b"".join(out)

    def syn_reply(self, stream_id: int, headers: dict[str, str] | None = None,
                  fin: bool = False) -> bytes:
        return self._control(SYN_REPLY, FLAG_FIN if fin else 0,
                             struct.pack(">I", stream_id) + self._headers(headers or {}))

    def rst_stream(self, stream_id: int, status: int = CANCEL) -> bytes:
        return self._control(RST_STREAM, 0, struct.pack(">II", stream_id, status))

    def ping(self, ping_id: int) -> bytes:
        return self._control(PING, 0, struct.pack(">I", ping_id))

    def goaway(self, last_good: int, status: int = 0) -> bytes:
        return self._control(GOAWAY, 0, struct.pack(">II", last_good, status))

    def _headers(self, headers: dict[str, str]) -> bytes:
        raw = [struct.pack(">I", len(headers))]
        for name, value in headers.items():
            for part in (name.lower().encode("latin-1"), value.encode("latin-1")):
                raw.append(struct.pack(">I", len(part)) + part)
        return self._deflate.compress(b"".join(raw)) + self._deflate.flush(zlib.Z_SYNC_FLUSH)

    @staticmethod
    def _control(kind: int, flags: int, body: bytes) -> bytes:
        return struct.pack(">HHI", 0x8000 | VERSION, kind, flags << 24 | len(body)) + body
