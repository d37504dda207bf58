"""The userland proxy on loopback: TCP and UDP relayed, taken ports reported as Docker does."""

import asyncio
import socket

import pytest

from wharf.network.portproxy import PortAllocated, publish
from wharf.network.ports import PortBinding


async def tcp_echo() -> asyncio.AbstractServer:
    async def echo(reader, writer) -> None:
        writer.write(b"echo:" + await reader.read())
        await writer.drain()
        writer.close()
    return await asyncio.start_server(echo, "127.0.0.1", 0)


class UdpEcho(asyncio.DatagramProtocol):
    def connection_made(self, transport) -> None:
        self.transport = transport

    def datagram_received(self, data: bytes, addr) -> None:
        self.transport.sendto(b"echo:" + data, addr)


def free_port(kind: int = socket.SOCK_STREAM) -> int:
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_tcp_relay_on_a_random_port() -> None:
    async def main() -> None:
        server = await tcp_echo()
        target = server.sockets[0].getsockname()[1]
        proxy = await publish(PortBinding(target, "tcp", "127.0.0.1"), "127.0.0.1")
        try:
            lo, hi = map(int, open("/proc/sys/net/ipv4/ip_local_port_range").read().split())
            assert lo <= proxy.binding.host_port <= hi
            reader, writer = await asyncio.open_connection("127.0.0.1", proxy.binding.host_port)
            writer.write(b"hello")
            writer.write_eof()
            assert await asyncio.wait_for(reader.read(), 5) == b"echo:hello"
            writer.close()
        finally:
            proxy.close()
            server.close()
        with pytest.raises(OSError):
            await asyncio.open_connection("127.0.0.1", proxy.binding.host_port)
    asyncio.run(main())


def test_udp_relay() -> None:
    async def main() -> None:
        loop = asyncio.get_running_loop()
        transport, _ = await loop.create_datagram_endpoint(UdpEcho, local_addr=("127.0.0.1", 0))
        target = transport.get_extra_info("sockname")[1]
        proxy = await publish(PortBinding(target, "udp", "127.0.0.1"), "127.0.0.1")
        try:
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as c:
                c.setblocking(False)
                await loop.sock_connect(c, ("127.0.0.1", proxy.binding.host_port))
                for word in (b"one", b"two"):
                    await loop.sock_sendall(c, word)
                    assert await asyncio.wait_for(loop.sock_recv(c, 100), 5) == b"echo:" + word
        finally:
            proxy.close()
            transport.close()
    asyncio.run(main())


def free_pair() -> int:
    """A free port whose successor is free too (other tests bind ports meanwhile)."""
    while True:
        port = free_port()
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port + 1))
                return port
            except OSError:
                continue


def test_taken_port_is_reported_like_docker() -> None:
    async def main() -> None:
        port = free_pair()
        first = await publish(PortBinding(80, "tcp", "127.0.0.1", port, port), "127.0.0.1")
        try:
            with pytest.raises(PortAllocated,
                               match=f"Bind for 127.0.0.1:{port} failed: port is already allocated"):
                await publish(PortBinding(80, "tcp", "127.0.0.1", port, port), "127.0.0.1")
            # a range moves on to the next free port
            ranged = await publish(PortBinding(80, "tcp", "127.0.0.1", port, port + 1), "127.0.0.1")
            assert ranged.binding.host_port == port + 1
            ranged.close()
        finally:
            first.close()
    asyncio.run(main())
