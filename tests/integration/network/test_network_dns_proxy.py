"""Embedded DNS inside a container's namespace, and the userland proxy to a container."""

from __future__ import annotations

import asyncio
import socket
from ipaddress import IPv4Address

from netlab import Lab, Listener, ask

from wharf.network import dnsmsg, netns
from wharf.network.dns import DNS_ADDRESS, DnsServer
from wharf.network.portproxy import publish
from wharf.network.ports import PortBinding

ELSEWHERE = IPv4Address("10.9.9.9")


class FakeUpstream(asyncio.DatagramProtocol):
    """The host's resolver, played by the test on 127.0.0.1."""

    def connection_made(self, transport) -> None:
        self.transport = transport

    def datagram_received(self, data: bytes, addr) -> None:
        self.transport.sendto(dnsmsg.answer(dnsmsg.parse_query(data), [ELSEWHERE]), addr)


async def ask_dns_in(ns: str, name: str) -> tuple[int, list]:
    """A query sent from inside ``ns`` to 127.0.0.11:53, as a container's libc would."""
    loop = asyncio.get_running_loop()
    sock = await asyncio.to_thread(netns.call_in, ns,
                                   lambda: socket.socket(socket.AF_INET, socket.SOCK_DGRAM))
    with sock:
        sock.setblocking(False)
        await loop.sock_connect(sock, (DNS_ADDRESS, 53))
        await loop.sock_sendall(sock, dnsmsg.encode_query(1, name))
        return dnsmsg.parse_answer_addresses(await asyncio.wait_for(loop.sock_recv(sock, 512), 5))


def test_dns_answers_names_inside_the_container_and_forwards_the_rest(lab: Lab) -> None:
    net = lab.network()
    ns, ep = lab.container(net, 2)
    _, peer = lab.container(net, 3)
    names = {"web": [peer.address], "web-alias": [peer.address]}

    async def main() -> None:
        loop = asyncio.get_running_loop()
        up, _ = await loop.create_datagram_endpoint(FakeUpstream, local_addr=("127.0.0.1", 0))
        server = DnsServer(names.get, [up.get_extra_info("sockname")])
        try:
            assert await server.start(target=ns) == (DNS_ADDRESS, 53)
            assert await ask_dns_in(ns, "web") == (0, [peer.address])
            assert await ask_dns_in(ns, "web-alias") == (0, [peer.address])
            assert await ask_dns_in(ns, "example.test") == (0, [ELSEWHERE])
        finally:
            server.close()
            up.close()
        # the host's own namespace never had a listener on 127.0.0.11:53
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.bind((DNS_ADDRESS, 53))

    asyncio.run(main())


def test_userland_proxy_relays_from_the_host_to_a_container(lab: Lab) -> None:
    net = lab.network()
    ns, ep = lab.container(net, 2)
    out = lab.outside()
    server = Listener(ns, ep.address, 80)

    async def main() -> None:
        proxy = await publish(PortBinding(80, "tcp", str(out.host_ip)), str(ep.address))
        try:
            port = proxy.binding.host_port
            # no firewall table at all: the proxy carries it, the container sees the host
            answer = await asyncio.to_thread(ask, out.ns, out.host_ip, port)
            assert answer == str(net.gateway)
        finally:
            proxy.close()

    try:
        asyncio.run(main())
    finally:
        server.close()
