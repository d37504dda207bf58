"""Just enough of the DNS wire format (RFC 1035) for the embedded server.

The server reads the question of a query and either answers it with A or
AAAA records or forwards the original bytes untouched, so only the header, the
question and answer records need encoding; nothing here parses an upstream's
answer. A dependency (dnslib, dnspython) would be larger than this module.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv6Address

TYPE_A = 1
TYPE_AAAA = 28
CLASS_IN = 1

NOERROR = 0
FORMERR = 1
SERVFAIL = 2
NXDOMAIN = 3
NOTIMP = 4

_QR = 0x8000
_AA = 0x0400
_RD = 0x0100
_RA = 0x0080
_OPCODE = 0x7800
_HEADER = struct.Struct("!6H")


class DnsFormatError(ValueError):
    """The bytes are not a DNS query this server can read."""


@dataclass(frozen=True)
class Query:
    id: int
    flags: int
    name: str
    qtype: int
    qclass: int
    #: The question section as received, echoed back in the answer.
    question: bytes

    @property
    def opcode(self) -> int:
        return (self.flags & _OPCODE) >> 11


def parse_query(data: bytes) -> Query:
    """The first question of a query (lower-cased name without the final dot)."""
    if len(data) < _HEADER.size:
        raise DnsFormatError("short message")
    ident, flags, qdcount, *_ = _HEADER.unpack_from(data)
    if flags & _QR or qdcount < 1:
        raise DnsFormatError("not a query")
    labels, pos = [], _HEADER.size
    while True:
        if pos >= len(data):
            raise DnsFormatError("truncated name")
        length = data[pos]
        if length & 0xC0:
            raise DnsFormatError("compressed question name")
        pos += 1
        if length == 0:
            break
        labels.append(data[pos:pos + length].decode("ascii", "replace"))
        pos += length
    if pos + 4 > len(data):
        raise DnsFormatError("truncated question")
    qtype, qclass = struct.unpack_from("!HH", data, pos)
    return Query(ident, flags, ".".join(labels).lower(), qtype, qclass,
                 data[_HEADER.size:pos + 4])


def encode_query(ident: int, name: str, qtype: int = TYPE_A) -> bytes:
    """A recursive query for ``name`` (used by tests and health checks)."""
    qname = b"".join(bytes([len(p)]) + p.encode() for p in name.strip(".").split(".") if p)
    return (_HEADER.pack(ident, _RD, 1, 0, 0, 0) + qname + b"\0"
            + struct.pack("!HH", qtype, CLASS_IN))


def answer(query: Query, addresses: list[IPv4Address | IPv6Address], ttl: int = 600) -> bytes:
    """An authoritative reply: an A record per IPv4 address for an A question, an AAAA
    record per IPv6 one for AAAA (none for other types)."""
    version = {TYPE_A: 4, TYPE_AAAA: 6}.get(query.qtype)
    matching = [a for a in addresses if a.version == version]
    records = b"".join(struct.pack("!HHHIH", 0xC00C, query.qtype, CLASS_IN, ttl, len(a.packed)) + a.packed
                       for a in matching)
    count = len(matching)
    flags = _QR | _AA | _RA | (query.flags & (_OPCODE | _RD))
    return _HEADER.pack(query.id, flags, 1, count, 0, 0) + query.question + records


def error(query: Query, rcode: int) -> bytes:
    """A reply carrying only ``rcode`` (SERVFAIL when no upstream answers, ...)."""
    flags = _QR | _RA | (query.flags & (_OPCODE | _RD)) | rcode
    return _HEADER.pack(query.id, flags, 1, 0, 0, 0) + query.question


def parse_answer_addresses(data: bytes) -> tuple[int, list[IPv4Address | IPv6Address]]:
    """(rcode, A and AAAA addresses) of a reply: for tests, which check what a client would get."""
    _id, flags, qdcount, ancount, *_ = _HEADER.unpack_from(data)
    pos = _HEADER.size
    for _ in range(qdcount):
        pos = _skip_name(data, pos) + 4
    out = []
    for _ in range(ancount):
        pos = _skip_name(data, pos)
        rtype, _cls, _ttl, rdlen = struct.unpack_from("!HHIH", data, pos)
        pos += 10
        if (rtype, rdlen) in ((TYPE_A, 4), (TYPE_AAAA, 16)):
            out.append(IPv4Address(data[pos:pos + 4]) if rdlen == 4 else IPv6Address(data[pos:pos + 16]))
        pos += rdlen
    return flags & 0xF, out


def _skip_name(data: bytes, pos: int) -> int:
    while True:
        length = data[pos]
        if length & 0xC0:
            return pos + 2
        pos += 1 + length
        if length == 0:
            return pos
