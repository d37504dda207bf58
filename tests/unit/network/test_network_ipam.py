"""IPAM: Docker's default pools, host routes skipped, explicit configs, leases that never collide."""

import json
from ipaddress import ip_address, ip_network

import pytest

from wharf.errors import Forbidden, InvalidParameter, Unavailable
from wharf.network.ipam import Ipam, PoolBase


def test_default_pools_in_docker_order() -> None:
    ipam = Ipam({})
    got = [str(ipam.create_pool(f"n{i}").subnet) for i in range(17)]
    assert got[:3] == ["172.17.0.0/16", "172.18.0.0/16", "172.19.0.0/16"]
    assert got[14] == "172.31.0.0/16"
    assert got[15:] == ["192.168.0.0/20", "192.168.16.0/20"]


def test_skips_subnets_routed_on_the_host() -> None:
    routed = [ip_network("172.17.0.0/16"), ip_network("172.18.5.0/24"), ip_network("0.0.0.0/0")]
    pool = Ipam({}, routed=routed).create_pool("bridge")
    assert str(pool.subnet) == "172.19.0.0/16"
    assert str(pool.gateway) == "172.19.0.1"


def test_pools_exhausted_says_so() -> None:
    ipam = Ipam({}, pools=[PoolBase("10.9.0.0/23", 24)])
    ipam.create_pool("a")
    ipam.create_pool("b")
    with pytest.raises(Forbidden, match="non-overlapping IPv4 address pool"):
        ipam.create_pool("c")


def test_explicit_subnet_gateway_and_range() -> None:
    ipam = Ipam({})
    pool = ipam.create_pool("n", subnet="10.1.0.0/16", gateway="10.1.0.254", ip_range="10.1.5.0/24")
    assert pool.to_docker() == {"Subnet": "10.1.0.0/16", "Gateway": "10.1.0.254",
                                "IPRange": "10.1.5.0/24"}
    assert str(ipam.allocate("n")) == "10.1.5.1"
    # --ip may be outside the range, but inside the subnet
    assert str(ipam.allocate("n", "10.1.0.9")) == "10.1.0.9"


def test_explicit_subnet_may_overlap_host_routes_not_other_networks() -> None:
    ipam = Ipam({}, routed=[ip_network("10.1.0.0/16")])
    ipam.create_pool("a", subnet="10.1.0.0/16")
    with pytest.raises(Forbidden, match="Pool overlaps"):
        ipam.create_pool("b", subnet="10.1.128.0/17")
    # and an automatic pool never lands on a network's subnet either
    assert not ipam.create_pool("c").subnet.overlaps(ip_network("10.1.0.0/16"))


@pytest.mark.parametrize("kwargs, message", [
    ({"subnet": "nonsense"}, "invalid subnet"),
    ({"subnet": "10.0.0.0/24", "gateway": "10.0.1.1"}, "no matching subnet for gateway"),
    ({"subnet": "10.0.0.0/24", "ip_range": "10.0.1.0/28"}, "no matching subnet for range"),
    ({"subnet": "fd00::/64", "gateway": "10.0.0.1"}, "no matching subnet for gateway"),
    ({"subnet": "fd00::/64", "ip_range": "10.0.0.0/28"}, "no matching subnet for range"),
    ({"subnet": "10.0.0.0/24", "aux": {"a": "10.0.1.5"}}, "no matching subnet for aux-address"),
])
def test_bad_configs_rejected(kwargs: dict, message: str) -> None:
    with pytest.raises(InvalidParameter, match=message):
        Ipam({}).create_pool("n", **kwargs)


def test_gateway_reserved_and_no_duplicates() -> None:
    ipam = Ipam({})
    ipam.create_pool("n", subnet="10.2.0.0/29")  # hosts .1-.6, .1 the gateway
    got = [str(ipam.allocate("n")) for _ in range(5)]
    assert got == ["10.2.0.2", "10.2.0.3", "10.2.0.4", "10.2.0.5", "10.2.0.6"]
    with pytest.raises(Unavailable):
        ipam.allocate("n")
    ipam.release("n", "10.2.0.4")
    assert str(ipam.allocate("n")) == "10.2.0.4"


@pytest.mark.parametrize("address, error, message", [
    ("10.3.0.1", Forbidden, "Address already in use"),  # the gateway
    ("10.3.0.255", InvalidParameter, "does not belong"),  # broadcast
    ("10.4.0.2", InvalidParameter, "does not belong"),
])
def test_requested_address_checked(address: str, error: type, message: str) -> None:
    ipam = Ipam({})
    ipam.create_pool("n", subnet="10.3.0.0/24")
    with pytest.raises(error, match=message):
        ipam.allocate("n", address)


def test_state_survives_a_restart_through_json() -> None:
    state: dict = {}
    ipam = Ipam(state)
    ipam.create_pool("n")
    first = ipam.allocate("n")
    reloaded = Ipam(json.loads(json.dumps(state)))
    assert reloaded.allocate("n") != first
    with pytest.raises(Forbidden):
        reloaded.allocate("n", str(first))
    assert str(reloaded.create_pool("m").subnet) == "172.18.0.0/16"


def test_release_pool_frees_subnet_and_release_is_repeatable() -> None:
    ipam = Ipam({})
    ipam.create_pool("n")
    ip = ipam.allocate("n")
    ipam.release("n", ip)
    ipam.release("n", ip)
    ipam.release_pool("n")
    assert ipam.create_pool("m").gateway == ip_address("172.17.0.1")


def test_ipv6_pool_leases_and_aux_addresses() -> None:
    """An IPv6 pool is only ever the one given; aux addresses are never leased; IPv4 and
    IPv6 pools do not overlap each other."""
    ipam = Ipam({})
    ipam.create_pool("n", subnet="10.5.0.0/29", aux={"host": "10.5.0.2"})
    pool6 = ipam.create_pool("n/v6", subnet="2001:db8::/64", ip_range="2001:db8::/96")
    assert pool6.to_docker() == {"Subnet": "2001:db8::/64", "Gateway": "2001:db8::1",
                                 "IPRange": "2001:db8::/96"}
    assert str(ipam.allocate("n")) == "10.5.0.3"
    assert [str(ipam.allocate("n/v6")) for _ in range(2)] == ["2001:db8::2", "2001:db8::3"]
    assert str(ipam.allocate("n/v6", "2001:db8::f00d")) == "2001:db8::f00d"
    with pytest.raises(Forbidden, match="Address already in use"):
        ipam.allocate("n/v6", "2001:db8::f00d")
    with pytest.raises(Forbidden, match="Pool overlaps"):
        ipam.create_pool("m/v6", subnet="2001:db8::/48")
