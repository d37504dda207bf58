"""The userland proxy: host ip:port → container ip:port, TCP and UDP, on the daemon's loop.

Like dockerd's ``docker-proxy``, the listener has two jobs. It *reserves* the
host port: binding it is how a second ``-p 8080:80`` (or any other program on
8080) is detected, with Docker's message. And it carries traffic that the
firewall's DNAT cannot catch in every setup (loopback without
``route_localnet``, a host without nftables). Where DNAT does match, packets
never reach this socket and the proxy costs nothing.
"""

from __future__ import annotations

import asyncio
import errno
import socket
from dataclasses import dataclass, field, replace
from functools import partial
from typing import Callable

from wharf.errors import WharfError
from wharf.network import hostports
from wharf.network.ports import PortBinding

#: Docker's docker-proxy forgets a UDP "connection" after this many idle seconds.
UDP_IDLE_TIMEOUT = 90.0
_CHUNK = 65536


class PortAllocated(WharfError):
    """The host port is taken (by another container or another program)."""


@dataclass
class Proxy:
    """A running proxy; ``binding.host_port`` is the concrete port it holds."""

    binding: PortBinding
    target: tuple[str, int]
    _closers: list = field(default_factory=list, repr=False)

    def close(self) -> None:
        """Stop listening and drop every relayed connection (idempotent)."""
        while self._closers:
            self._closers.pop()()


async def publish(binding: PortBinding, container_ip: str, relay: bool = True,
                  port_driver: str = "") -> Proxy:
    """Bind the host side of ``binding`` and relay it to ``container_ip``.

    A zero host port takes a kernel-chosen ephemeral one; a host range the
    first free port in it. Raises ``PortAllocated`` when nothing can be bound.
    Without ``relay`` (dockerd's ``--userland-proxy=false``) the port is only
    reserved: bound, never listened on, so all traffic is the firewall's DNAT.
    With a ``port_driver`` (a rootless daemon's parent, ``wharf.network.hostports``)
    the port is bound in the host's network namespace, and always relayed: no
    DNAT of this daemon's reaches the host's.
    """
    if port_driver:
        sock = await asyncio.to_thread(_bind, binding, partial(hostports.bind, port_driver))
        relay = True
    else:
        sock = _bind(binding, hostports.open_socket)
    port = sock.getsockname()[1]
    proxy = Proxy(replace(binding, host_port=port, host_port_end=port),
                  (container_ip, binding.container_port))
    if not relay:
        proxy._closers.append(sock.close)
    elif binding.proto == "tcp":
        await _serve_tcp(proxy, sock)
    elif binding.proto == "udp":
        await _serve_udp(proxy, sock)
    else:
        sock.close()
        raise WharfError(f"userland proxy does not support {binding.proto}")
    return proxy


def _bind(binding: PortBinding,
          open_socket: Callable[[str, str, int], socket.socket]) -> socket.socket:
    host = binding.host_ip or "0.0.0.0"
    candidates = binding.host_ports or range(0, 1)
    for port in candidates:
        try:
            sock = open_socket(binding.proto, host, port)
        except OSError as e:
            if e.errno != errno.EADDRINUSE:
                raise WharfError(f"Error starting userland proxy: listen {binding.proto} "
                                 f"{host}:{port}: {e.strerror}") from None
            continue
        sock.setblocking(False)
        return sock
    shown = binding.docker_host_port() or "0"
    raise PortAllocated(f"Bind for {host}:{shown} failed: port is already allocated")


async def _serve_tcp(proxy: Proxy, sock: socket.socket) -> None:
    sock.listen(128)
    tasks: set[asyncio.Task] = set()

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        tasks.add(task)
        try:
            up_reader, up_writer = await asyncio.open_connection(*proxy.target)
        except OSError:
            writer.close()
            tasks.discard(task)
            return
        try:
            await asyncio.gather(_pipe(reader, up_writer), _pipe(up_reader, writer))
        finally:
            up_writer.close()
            writer.close()
            tasks.discard(task)

    server = await asyncio.start_server(handle, sock=sock)

    def close() -> None:
        server.close()
        for task in list(tasks):
            task.cancel()

    proxy._closers.append(close)


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Copy until EOF, then half-close so the other side sees EOF too."""
    try:
        while data := await reader.read(_CHUNK):
            writer.write(data)
            await writer.drain()
        if writer.can_write_eof():
            writer.write_eof()
    except (ConnectionError, OSError):
        writer.close()


class _UdpFrontend(asyncio.DatagramProtocol):
    """The host-side UDP socket: one upstream socket per client address."""

    def __init__(self, proxy: Proxy) -> None:
        self.proxy = proxy
        self.transport: asyncio.DatagramTransport | None = None
        self.flows: dict[tuple, _UdpFlow] = {}

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def datagram_received(self, data: bytes, addr: tuple) -> None:
        flow = self.flows.get(addr)
        if flow is None:
            flow = self.flows[addr] = _UdpFlow(self, addr)
            flow.opening = asyncio.get_running_loop().create_task(flow.open(self.proxy.target))
        flow.send(data)

    def close(self) -> None:
        for flow in list(self.flows.values()):
            flow.close()
        if self.transport is not None:
            self.transport.close()


class _UdpFlow(asyncio.DatagramProtocol):
    """Relays one client's datagrams to the container and its replies back."""

    def __init__(self, front: _UdpFrontend, client: tuple) -> None:
        self.front, self.client = front, client
        self.transport: asyncio.DatagramTransport | None = None
        self.pending: list[bytes] = []
        self.timer: asyncio.TimerHandle | None = None
        self.opening: asyncio.Task | None = None  # held: the loop keeps tasks weakly
        self.closed = False

    async def open(self, target: tuple[str, int]) -> None:
        try:
            await asyncio.get_running_loop().create_datagram_endpoint(
                lambda: self, remote_addr=target)
        except OSError:
            self.close()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        if self.closed:  # closed while the upstream socket was being made
            transport.close()
            return
        for data in self.pending:
            self.transport.sendto(data)
        self.pending.clear()

    def send(self, data: bytes) -> None:
        self._touch()
        if self.transport is None:
            self.pending.append(data)
        else:
            self.transport.sendto(data)

    def datagram_received(self, data: bytes, addr: tuple) -> None:
        self._touch()
        if self.front.transport is not None:
            self.front.transport.sendto(data, self.client)

    def error_received(self, exc: Exception) -> None:
        """ICMP unreachable from the container: the client retries or times out."""

    def _touch(self) -> None:
        if self.timer is not None:
            self.timer.cancel()
        self.timer = asyncio.get_running_loop().call_later(UDP_IDLE_TIMEOUT, self.close)

    def close(self) -> None:
        self.closed = True
        if self.timer is not None:
            self.timer.cancel()
        if self.transport is not None:
            self.transport.close()
        self.front.flows.pop(self.client, None)


async def _serve_udp(proxy: Proxy, sock: socket.socket) -> None:
    front = _UdpFrontend(proxy)
    await asyncio.get_running_loop().create_datagram_endpoint(lambda: front, sock=sock)
    proxy._closers.append(front.close)
