"""Bridges and endpoints in the real kernel: addressing, reachability, isolation, idempotence."""

from __future__ import annotations

import dataclasses
import errno
import secrets

import pytest
from pyroute2 import IPRoute

from netlab import Lab, Listener, ask, reachable, sh

from wharf.network import netns
from wharf.network.bridge import _kind, host_ifname, mac_for, routed_subnets
from wharf.network.ipam import Ipam, PoolBase


def test_endpoint_is_configured_like_docker(lab: Lab) -> None:
    net = lab.network()
    ns, ep = lab.container(net, 2)
    inside = sh("ip", "netns", "exec", ns.rsplit("/", 1)[1], "ip", "-o", "addr", "show", "eth0").stdout
    assert f"inet {ep.address}/24" in inside
    assert ep.mac == mac_for(ep.address) == "02:42:" + ":".join(f"{b:02x}" for b in ep.address.packed)
    link = sh("ip", "netns", "exec", ns.rsplit("/", 1)[1], "ip", "link", "show", "eth0").stdout
    assert ep.mac in link and "UP" in link
    routes = sh("ip", "netns", "exec", ns.rsplit("/", 1)[1], "ip", "route").stdout
    assert f"default via {net.gateway} dev eth0" in routes
    master = sh("ip", "link", "show", ep.host_ifname).stdout
    assert f"master {net.bridge}" in master
    assert open(f"/sys/class/net/{ep.host_ifname}/brport/hairpin_mode").read().strip() == "1"


def test_two_endpoints_on_one_bridge_reach_each_other(lab: Lab) -> None:
    net = lab.network()
    ns1, ep1 = lab.container(net, 2)
    ns2, ep2 = lab.container(net, 3)
    ping = sh("ip", "netns", "exec", ns1.rsplit("/", 1)[1], "/bin/busybox", "ping", "-c1", "-W2",
              str(ep2.address))
    assert ping.returncode == 0, ping.stdout + ping.stderr
    server = Listener(ns2, ep2.address)
    try:
        assert ask(ns1, ep2.address, server.port) == str(ep1.address)
    finally:
        server.close()


def test_other_networks_are_isolated_once_the_firewall_is_applied(lab: Lab) -> None:
    a, b = lab.network(), lab.network()
    ns1, ep1 = lab.container(a, 2)
    ns3, _ = lab.container(b, 2)
    server = Listener(ns1, ep1.address)
    try:
        # without wharf's rules the host simply routes between the bridges...
        assert reachable(ns3, ep1.address, server.port)
        lab.firewall.apply([lab.fw(a), lab.fw(b)], [])
        # ...with them, a third namespace on another network cannot get in
        assert not reachable(ns3, ep1.address, server.port)
        ns2, ep2 = lab.container(a, 3)
        assert ask(ns2, ep1.address, server.port) == str(ep2.address)
    finally:
        server.close()


def test_internal_network_has_no_route_out(lab: Lab) -> None:
    internal = lab.network(internal=True)
    ns, _ = lab.container(internal, 2)
    out = lab.outside()
    server = Listener(out.ns, out.ip)
    try:
        assert "default" not in sh("ip", "-n", ns.rsplit("/", 1)[1], "route").stdout
        lab.firewall.apply([lab.fw(internal)], [])
        # even with a route added by hand, the forward rules stop it
        sh("ip", "-n", ns.rsplit("/", 1)[1], "route", "add", "default", "via", str(internal.gateway))
        assert not reachable(ns, out.ip, server.port)
    finally:
        server.close()


def test_everything_is_idempotent_and_restartable(lab: Lab) -> None:
    net = lab.network()
    lab.driver.create_network(net)  # a restarted daemon repairs, it does not fail
    ns, ep = lab.container(net, 2)
    eid = ep.endpoint_id
    again = lab.driver.join(net, eid, ep.address, ns)  # a retried join replaces the half-made one
    assert again.host_ifname == host_ifname(eid) and lab.driver.endpoint_exists(eid)
    assert sh("ip", "-n", ns.rsplit("/", 1)[1], "-o", "link").stdout.count("eth0") == 1
    lab.driver.leave(eid)
    lab.driver.leave(eid)
    assert not lab.driver.endpoint_exists(eid)
    assert "eth0" not in sh("ip", "-n", ns.rsplit("/", 1)[1], "-o", "link").stdout
    lab.driver.delete_network(net.bridge)
    lab.driver.delete_network(net.bridge)
    assert sh("ip", "link", "show", net.bridge).returncode != 0


def test_second_network_gets_eth1_and_keeps_the_first_default_route(lab: Lab) -> None:
    a, b = lab.network(), lab.network()
    ns, _ = lab.container(a, 2)
    eid = secrets.token_hex(32)
    lab.links.append(host_ifname(eid))
    ep = lab.driver.join(b, eid, b.subnet.network_address + 5, ns)
    assert ep.container_ifname == "eth1"
    routes = sh("ip", "-n", ns.rsplit("/", 1)[1], "route").stdout
    assert f"default via {a.gateway} dev eth0" in routes
    with netns.iproute(ns) as ipr:
        assert ipr.link_lookup(ifname="eth1")


def test_ipam_skips_a_subnet_a_bridge_already_routes(lab: Lab) -> None:
    net = lab.network()
    routed = routed_subnets()
    assert net.subnet in routed
    pool = Ipam({}, routed=routed, pools=[PoolBase(str(net.subnet.supernet(1)), 24)]).create_pool("n")
    assert not pool.subnet.overlaps(net.subnet)


def test_prune_removes_endpoints_the_engine_forgot(lab: Lab) -> None:
    net = lab.network()
    _, kept = lab.container(net, 2)
    ns, lost = lab.container(net, 3)
    assert lab.driver.prune(net.bridge, {kept.endpoint_id}) == [lost.host_ifname]
    assert lab.driver.endpoint_exists(kept.endpoint_id)
    assert not lab.driver.endpoint_exists(lost.endpoint_id)
    assert "eth0" not in sh("ip", "-n", ns.rsplit("/", 1)[1], "-o", "link").stdout
    assert lab.driver.prune("wtnonexistent", set()) == []


def test_a_failed_join_leaves_no_veth(lab: Lab) -> None:
    net = lab.network()
    ns, ep = lab.container(net, 2)
    eid = secrets.token_hex(32)
    lab.links.append(host_ifname(eid))
    with pytest.raises(OSError) as failed:  # eth0 is taken in that namespace
        lab.driver.join(net, eid, ep.address, ns, ifname="eth0")
    assert failed.value.errno == errno.EEXIST
    assert not lab.driver.endpoint_exists(eid)
    assert lab.driver.endpoint_exists(ep.endpoint_id)


def test_the_network_mtu_is_on_both_ends_of_the_veth(lab: Lab) -> None:
    net = dataclasses.replace(lab.network(), mtu=1400)
    ns, ep = lab.container(net, 2)
    assert "mtu 1400" in sh("ip", "link", "show", ep.host_ifname).stdout
    assert "mtu 1400" in sh("ip", "-n", ns.rsplit("/", 1)[1], "link", "show", "eth0").stdout


def test_a_link_gone_between_the_listing_and_the_look_is_no_veth() -> None:
    """prune at start lists a bridge's ports, then asks each one's kind: a container's
    veth deleted in between (its exit) is skipped, never a failed daemon start."""
    with IPRoute() as ipr:
        gone = max(link["index"] for link in ipr.get_links()) + 1000
        assert _kind(ipr, gone) is None
