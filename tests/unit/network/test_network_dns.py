"""The embedded DNS server over real loopback sockets: names answered, others forwarded."""

import asyncio
import socket
import struct
from ipaddress import IPv4Address, IPv6Address

import pytest

from wharf.network import dnsmsg
from wharf.network.dns import DnsServer

WEB = IPv4Address("172.18.0.2")


def test_query_round_trip() -> None:
    q = dnsmsg.parse_query(dnsmsg.encode_query(7, "Web.Example."))
    assert (q.id, q.name, q.qtype) == (7, "web.example", dnsmsg.TYPE_A)
    assert dnsmsg.parse_answer_addresses(dnsmsg.answer(q, [WEB])) == (0, [WEB])
    assert dnsmsg.parse_answer_addresses(dnsmsg.error(q, dnsmsg.NXDOMAIN)) == (3, [])


def test_a_and_aaaa_answers_take_their_own_family() -> None:
    web6 = IPv6Address("fd00:18::2")
    for qtype, want in ((dnsmsg.TYPE_A, [WEB]), (dnsmsg.TYPE_AAAA, [web6])):
        q = dnsmsg.parse_query(dnsmsg.encode_query(9, "web", qtype))
        assert dnsmsg.parse_answer_addresses(dnsmsg.answer(q, [WEB, web6])) == (0, want)
    q = dnsmsg.parse_query(dnsmsg.encode_query(9, "web", dnsmsg.TYPE_AAAA))
    assert dnsmsg.parse_answer_addresses(dnsmsg.answer(q, [WEB])) == (0, [])  # known, no AAAA


@pytest.mark.parametrize("data", [b"", b"\x00" * 11, b"\x00\x01\x81\x00\x00\x01" + b"\x00" * 6])
def test_garbage_is_rejected(data: bytes) -> None:
    with pytest.raises(dnsmsg.DnsFormatError):
        dnsmsg.parse_query(data)


class FakeUpstream(asyncio.DatagramProtocol):
    """An upstream on 127.0.0.1 answering every A query with 10.9.9.9."""

    def connection_made(self, transport) -> None:
        self.transport = transport
        self.seen: list[str] = []

    def datagram_received(self, data: bytes, addr) -> None:
        q = dnsmsg.parse_query(data)
        self.seen.append(q.name)
        self.transport.sendto(dnsmsg.answer(q, [IPv4Address("10.9.9.9")]), addr)


async def ask_udp(addr, name: str, qtype: int = dnsmsg.TYPE_A) -> tuple[int, list]:
    loop = asyncio.get_running_loop()
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.setblocking(False)
        await loop.sock_connect(s, addr)
        await loop.sock_sendall(s, dnsmsg.encode_query(42, name, qtype))
        return dnsmsg.parse_answer_addresses(await asyncio.wait_for(loop.sock_recv(s, 4096), 5))


async def ask_tcp(addr, name: str) -> tuple[int, list]:
    reader, writer = await asyncio.open_connection(*addr)
    query = dnsmsg.encode_query(43, name)
    writer.write(struct.pack("!H", len(query)) + query)
    (length,) = struct.unpack("!H", await reader.readexactly(2))
    reply = await reader.readexactly(length)
    writer.close()
    return dnsmsg.parse_answer_addresses(reply)


def test_answers_local_names_and_forwards_others() -> None:
    asyncio.run(answers_local_names_and_forwards_others())


async def answers_local_names_and_forwards_others() -> None:
    loop = asyncio.get_running_loop()
    up_transport, upstream = await loop.create_datagram_endpoint(
        FakeUpstream, local_addr=("127.0.0.1", 0))
    names = {"web": [WEB], "noaddr": []}
    server = DnsServer(names.get, [up_transport.get_extra_info("sockname")])
    try:
        addr = await server.start(address="127.0.0.1", port=0)
        assert await ask_udp(addr, "web") == (0, [WEB])
        assert await ask_udp(addr, "WEB.") == (0, [WEB])
        assert await ask_udp(addr, "web", dnsmsg.TYPE_AAAA) == (0, [])
        assert await ask_udp(addr, "noaddr") == (0, [])
        assert await ask_udp(addr, "elsewhere.test") == (0, [IPv4Address("10.9.9.9")])
        assert upstream.seen == ["elsewhere.test"]
        assert await ask_tcp(addr, "web") == (0, [WEB])
    finally:
        server.close()
        up_transport.close()


def test_servfail_when_no_upstream_answers(monkeypatch) -> None:
    monkeypatch.setattr("wharf.network.dns.UPSTREAM_TIMEOUT", 0.2)
    asyncio.run(servfail_when_no_upstream_answers())


async def servfail_when_no_upstream_answers() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as silent:
        silent.bind(("127.0.0.1", 0))
        server = DnsServer(lambda name: None, [silent.getsockname()])
        try:
            addr = await server.start(address="127.0.0.1", port=0)
            assert await ask_udp(addr, "nowhere.test") == (dnsmsg.SERVFAIL, [])
        finally:
            server.close()
