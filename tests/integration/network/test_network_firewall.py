"""wharf's nftables table in the real kernel: masquerade, published ports, hairpin, cleanup."""

from __future__ import annotations

import secrets
import socket

from netlab import FORWARD, Lab, Listener, ask, reachable, sh

from wharf.network import netns
from wharf.network.firewall import Firewall, FwPort


def free_host_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_egress_is_masqueraded_to_the_hosts_address(lab: Lab) -> None:
    net = lab.network()
    ns, _ = lab.container(net, 2)
    out = lab.outside()
    server = Listener(out.ns, out.ip)
    try:
        # the outside has no route back to the bridge's subnet: only NAT makes this work
        assert not reachable(ns, out.ip, server.port)
        lab.firewall.apply([lab.fw(net)], [])
        assert open(FORWARD).read().strip() == "1"
        assert ask(ns, out.ip, server.port) == str(out.host_ip)
    finally:
        server.close()


def test_published_port_answers_on_loopback_and_from_a_client_namespace(lab: Lab) -> None:
    net = lab.network()
    ns, ep = lab.container(net, 2)
    out = lab.outside()
    server = Listener(ns, "0.0.0.0", 80)
    anywhere, local_only = free_host_port(), free_host_port()
    try:
        lab.firewall.apply([lab.fw(net)], [
            FwPort("tcp", anywhere, ep.address, 80),
            FwPort("tcp", local_only, ep.address, 80, host_ip="127.0.0.1")])
        # from the host's 127.0.0.1 (DNAT in output, masqueraded to the gateway)
        assert ask(None, "127.0.0.1", anywhere) == str(net.gateway)
        assert ask(None, "127.0.0.1", local_only) == str(net.gateway)
        # from a client namespace, on the host's address: the client's own address arrives
        assert ask(out.ns, out.host_ip, anywhere) == str(out.ip)
        # -p 127.0.0.1:X:80 does not answer on other addresses
        assert not reachable(out.ns, out.host_ip, local_only)
        assert not reachable(None, out.host_ip, local_only)
        # hairpin: the container reaches its own published port through the host
        assert ask(ns, out.host_ip, anywhere) == str(net.gateway)
    finally:
        server.close()


def test_apply_replaces_and_remove_leaves_nothing(lab: Lab) -> None:
    net = lab.network()
    ns, ep = lab.container(net, 2)
    server = Listener(ns, "0.0.0.0", 80)
    port = free_host_port()
    try:
        lab.firewall.apply([lab.fw(net)], [FwPort("tcp", port, ep.address, 80)])
        assert reachable(None, "127.0.0.1", port)
        lab.firewall.apply([lab.fw(net)], [])  # the port is unpublished
        assert not reachable(None, "127.0.0.1", port)
        # a restarted daemon finds the table and keeps the recorded ip_forward
        again = Firewall(lab.firewall.table)
        assert again.exists()
        again.apply([lab.fw(net)], [FwPort("tcp", port, ep.address, 80)])
        assert reachable(None, "127.0.0.1", port)
        again.remove()
        again.remove()
        assert not again.exists()
        assert lab.firewall.table not in sh("nft", "list", "tables").stdout
        assert open(FORWARD).read().strip() == lab.forward_before
    finally:
        server.close()


def test_ip_forward_is_restored_to_what_it_was(lab: Lab) -> None:
    """In a network namespace of its own (ip_forward is per namespace): the host's is
    shared by the tests running beside this one, and a 0 written there cut the
    routing between bridges that another worker's test was relying on."""
    net = lab.network()
    name = f"wtfw{secrets.token_hex(3)}"
    sh("ip", "netns", "add", name)
    sh("ip", "-n", name, "link", "add", net.bridge, "type", "bridge")  # its twin in there

    def check() -> None:
        with open(FORWARD, "w") as f:
            f.write("0")
        firewall = Firewall(lab.firewall.table)
        firewall.apply([lab.fw(net)], [])
        assert open(FORWARD).read().strip() == "1"
        firewall.remove()
        assert open(FORWARD).read().strip() == "0"
    try:
        netns.call_in(f"/run/netns/{name}", check)
    finally:
        sh("ip", "netns", "del", name)
