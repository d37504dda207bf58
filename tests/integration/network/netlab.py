"""Helpers for network tests: a private piece of the kernel per test.

Namespaces, bridges, veths and an nft table: everything is named ``wt`` +
random (the nft table ``wharf_test_`` + random), subnets are random /24s of 10.64.0.0/10 that no host route covers, and the
``lab`` fixture deletes all of it afterwards, then asserts it is really gone
and that ``net.ipv4.ip_forward`` is back to what it was.
"""

from __future__ import annotations

import random
import secrets
import socket
import subprocess
import threading
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv4Network, ip_network

from wharf.network import netns
from wharf.network.bridge import BridgeDriver, BridgeNetwork, Endpoint, host_ifname, routed_subnets
from wharf.network.firewall import Firewall, FwNetwork

FORWARD = "/proc/sys/net/ipv4/ip_forward"


def sh(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(args, capture_output=True, text=True)


@dataclass
class Outside:
    """A namespace standing for "the internet": reachable from the host by its own veth."""

    ns: str
    host_ip: IPv4Address
    ip: IPv4Address


class Lab:
    def __init__(self) -> None:
        self.driver = BridgeDriver()
        self.tag = secrets.token_hex(3)
        self.forward_before = open(FORWARD).read().strip()
        self.namespaces: list[str] = []
        self.links: list[str] = []
        self.bridges: list[str] = []
        self.firewall = Firewall(f"wharf_test_{self.tag}")
        self._taken = routed_subnets()
        self._count = 0

    def name(self, kind: str) -> str:
        self._count += 1
        return f"wt{kind}{self.tag}{self._count}"

    def subnet(self, prefix: int = 24) -> IPv4Network:
        while True:
            net = ip_network(f"10.{random.randint(64, 127)}.{random.randint(0, 255)}.0/{prefix}")
            if not any(net.overlaps(t) for t in self._taken):
                self._taken.append(net)
                return net

    def netns(self) -> str:
        name = self.name("n")
        assert sh("ip", "netns", "add", name).returncode == 0
        self.namespaces.append(name)
        assert sh("ip", "-n", name, "link", "set", "lo", "up").returncode == 0  # as netns.create
        return f"/run/netns/{name}"

    def network(self, internal: bool = False) -> BridgeNetwork:
        subnet = self.subnet()
        net = BridgeNetwork(self.name("b"), subnet, subnet.network_address + 1, internal)
        self.bridges.append(net.bridge)
        self.driver.create_network(net)
        return net

    def fw(self, net: BridgeNetwork) -> FwNetwork:
        return FwNetwork(net.bridge, net.subnet, net.internal)

    def container(self, net: BridgeNetwork, host: int) -> tuple[str, Endpoint]:
        """A fresh namespace joined to ``net`` with address .``host``."""
        ns = self.netns()
        eid = secrets.token_hex(32)
        self.links.append(host_ifname(eid))
        return ns, self.driver.join(net, eid, net.subnet.network_address + host, ns)

    def outside(self) -> Outside:
        subnet = self.subnet(30)
        ns = self.netns()
        host_end, peer = self.name("v"), self.name("p")
        self.links.append(host_end)
        host_ip, ip = subnet.network_address + 1, subnet.network_address + 2
        for cmd in (["ip", "link", "add", host_end, "type", "veth", "peer", "name", peer,
                     "netns", ns.rsplit("/", 1)[1]],
                    ["ip", "addr", "add", f"{host_ip}/30", "dev", host_end],
                    ["ip", "link", "set", host_end, "up"],
                    ["ip", "-n", ns.rsplit("/", 1)[1], "addr", "add", f"{ip}/30", "dev", peer],
                    ["ip", "-n", ns.rsplit("/", 1)[1], "link", "set", peer, "up"],
                    ["ip", "-n", ns.rsplit("/", 1)[1], "link", "set", "lo", "up"]):
            r = sh(*cmd)
            assert r.returncode == 0, r.stderr
        return Outside(ns, host_ip, ip)

    def teardown(self) -> list[str]:
        self.firewall.remove()
        for name in self.links:
            sh("ip", "link", "del", name)
        for bridge in self.bridges:
            self.driver.delete_network(bridge)
        for ns in self.namespaces:
            sh("ip", "netns", "del", ns)
        left = []
        links = sh("ip", "-o", "link", "show").stdout
        left += [f"link {n}" for n in self.links + self.bridges if f" {n}:" in links or f" {n}@" in links]
        ns_list = sh("ip", "netns", "list").stdout.split()
        left += [f"netns {n}" for n in self.namespaces if n in ns_list]
        if self.firewall.table in sh("nft", "list", "tables").stdout:
            left.append(f"nft table {self.firewall.table}")
        if open(FORWARD).read().strip() != self.forward_before:
            left.append("net.ipv4.ip_forward not restored")
        return left


class Listener:
    """A TCP server inside a namespace that answers each client with the client's address."""

    def __init__(self, ns: str, ip: IPv4Address | str, port: int = 0) -> None:
        def make() -> socket.socket:
            s = socket.socket()
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.bind((str(ip), port))
            s.listen(8)
            return s
        self.sock = netns.call_in(ns, make)
        self.port = self.sock.getsockname()[1]
        self.sock.settimeout(0.2)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, peer = self.sock.accept()
            except (TimeoutError, socket.timeout):
                continue
            with conn:
                conn.sendall(peer[0].encode())

    def close(self) -> None:
        self._stop.set()
        self._thread.join()
        self.sock.close()


def ask(ns: str | None, ip: IPv4Address | str, port: int, timeout: float = 2.0) -> str:
    """Connect from ``ns`` (None: the host) and return what the listener says (the source address)."""
    make = lambda: socket.create_connection((str(ip), port), timeout=timeout)  # noqa: E731
    s = make() if ns is None else netns.call_in(ns, make)
    with s:
        s.settimeout(timeout)
        return s.recv(100).decode()


def reachable(ns: str | None, ip: IPv4Address | str, port: int) -> bool:
    try:
        ask(ns, ip, port, timeout=1.0)
        return True
    except OSError:
        return False
