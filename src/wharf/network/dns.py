"""The embedded DNS server: 127.0.0.11 inside a container, served by the daemon's loop.

Docker runs its resolver inside the container's network namespace. wharf does
the same without a process per container: a short-lived thread joins the
container's netns and opens the UDP and TCP listeners there (``netns.call_in``),
and the daemon's asyncio loop serves them. Since the sockets already live in
the container's namespace, no NAT redirect is needed, and since forwarding
uses sockets opened by the loop in the *daemon's* namespace, host resolvers
on loopback (127.0.0.53 of systemd-resolved) stay reachable.

Names come from the engine through ``resolve(name) -> [addresses] | None``:
a list (possibly empty) means "ours" (container names, aliases and links on
the container's networks; empty for a known name without that record type),
None means "not ours": the query is forwarded verbatim to the upstreams in
turn (``etcfiles.resolv_conf(..., embedded=True).upstreams``, port 53),
SERVFAIL if none answers.
"""

from __future__ import annotations

import asyncio
import errno
import socket
import struct
from ipaddress import IPv4Address, IPv6Address
from typing import Callable

from wharf.network import dnsmsg, netns

Resolver = Callable[[str], "list[IPv4Address | IPv6Address] | None"]

DNS_ADDRESS = "127.0.0.11"
#: Seconds to wait for one upstream before trying the next.
UPSTREAM_TIMEOUT = 2.0


class DnsServer:
    """One server: the listeners of one namespace, answering from ``resolve``."""

    def __init__(self, resolve: Resolver, upstreams: list[tuple[str, int]]) -> None:
        self.resolve = resolve
        self.upstreams = upstreams
        self._closers: list[Callable[[], None]] = []

    async def start(self, target: int | str | None = None, address: str = DNS_ADDRESS,
                    port: int = 53) -> tuple[str, int]:
        """Listen on ``address:port`` in ``target``'s netns (pid or path; None: here).

        Returns the bound address (the port is the kernel's choice when 0).
        """
        def open_pair() -> tuple[socket.socket, socket.socket]:
            udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            tcp = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            try:
                udp.bind((address, port))
                tcp.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                tcp.bind((address, udp.getsockname()[1]))
                tcp.listen(64)
            except OSError:
                udp.close()
                tcp.close()
                raise
            return udp, tcp

        def open_sockets() -> tuple[socket.socket, socket.socket]:
            """With port 0 the kernel picks a free UDP port, which TCP may hold: pick again."""
            for _ in range(9 if port == 0 else 0):
                try:
                    return open_pair()
                except OSError as e:
                    if e.errno != errno.EADDRINUSE:
                        raise
            return open_pair()

        if target is None:
            udp, tcp = open_sockets()
        else:
            udp, tcp = await asyncio.to_thread(netns.call_in, target, open_sockets)
        bound = udp.getsockname()
        udp.setblocking(False)
        tcp.setblocking(False)
        loop = asyncio.get_running_loop()
        transport, _ = await loop.create_datagram_endpoint(lambda: _UdpFront(self), sock=udp)
        server = await asyncio.start_server(self._serve_tcp, sock=tcp)
        self._closers += [transport.close, server.close]
        return bound

    def close(self) -> None:
        while self._closers:
            self._closers.pop()()

    async def handle(self, data: bytes, tcp: bool = False) -> bytes | None:
        """The reply to one message (None: drop it, it was not a readable query)."""
        try:
            query = dnsmsg.parse_query(data)
        except dnsmsg.DnsFormatError:
            return None
        if query.opcode != 0:
            return dnsmsg.error(query, dnsmsg.NOTIMP)
        addresses = self.resolve(query.name) if query.qclass == dnsmsg.CLASS_IN else None
        if addresses is not None:
            return dnsmsg.answer(query, addresses)
        for upstream in self.upstreams:
            try:
                return await asyncio.wait_for(
                    (_ask_tcp if tcp else _ask_udp)(upstream, data), UPSTREAM_TIMEOUT)
            except (OSError, asyncio.TimeoutError, asyncio.IncompleteReadError):
                continue
        return dnsmsg.error(query, dnsmsg.SERVFAIL)

    async def _serve_tcp(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """RFC 1035 4.2.2: each message is preceded by its 16-bit length."""
        try:
            while True:
                data = await _read_framed(reader)
                reply = await self.handle(data, tcp=True)
                if reply is None:
                    break
                writer.write(struct.pack("!H", len(reply)) + reply)
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()


class _UdpFront(asyncio.DatagramProtocol):
    def __init__(self, server: DnsServer) -> None:
        self.server = server
        self.transport: asyncio.DatagramTransport | None = None
        self.tasks: set[asyncio.Task] = set()  # the loop keeps only weak references

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def datagram_received(self, data: bytes, addr: tuple) -> None:
        task = asyncio.get_running_loop().create_task(self._reply(data, addr))
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def _reply(self, data: bytes, addr: tuple) -> None:
        reply = await self.server.handle(data)
        if reply is not None and self.transport is not None and not self.transport.is_closing():
            self.transport.sendto(reply, addr)


class _OneReply(asyncio.DatagramProtocol):
    def __init__(self) -> None:
        self.reply: asyncio.Future[bytes] = asyncio.get_running_loop().create_future()

    def datagram_received(self, data: bytes, addr: tuple) -> None:
        if not self.reply.done():
            self.reply.set_result(data)

    def error_received(self, exc: Exception) -> None:
        if not self.reply.done():
            self.reply.set_exception(exc)


async def _ask_udp(upstream: tuple[str, int], data: bytes) -> bytes:
    transport, proto = await asyncio.get_running_loop().create_datagram_endpoint(
        _OneReply, remote_addr=upstream)
    try:
        transport.sendto(data)
        return await proto.reply
    finally:
        transport.close()


async def _ask_tcp(upstream: tuple[str, int], data: bytes) -> bytes:
    reader, writer = await asyncio.open_connection(*upstream)
    try:
        writer.write(struct.pack("!H", len(data)) + data)
        await writer.drain()
        return await _read_framed(reader)
    finally:
        writer.close()


async def _read_framed(reader: asyncio.StreamReader) -> bytes:
    (length,) = struct.unpack("!H", await reader.readexactly(2))
    return await reader.readexactly(length)
