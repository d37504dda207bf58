"""The nftables table wharf writes, as text (the kernel side is in tests/integration/network)."""

from ipaddress import ip_address, ip_network

import pytest

from wharf.errors import InvalidParameter
from wharf.network.firewall import Firewall, FwNetwork, FwPort

NETS = [FwNetwork("br-a", ip_network("172.18.0.0/16")),
        FwNetwork("br-i", ip_network("172.19.0.0/16"), internal=True)]
PORTS = [FwPort("tcp", 8080, ip_address("172.18.0.2"), 80),
         FwPort("udp", 5353, ip_address("172.18.0.3"), 53, "127.0.0.1")]


def rules() -> list[str]:
    text = Firewall("wharf_t").render(NETS, PORTS, "0")
    return [line.strip() for line in text.splitlines()]


def test_masquerade_only_for_networks_with_egress() -> None:
    got = rules()
    assert 'ip saddr 172.18.0.0/16 oifname != "br-a" masquerade' in got
    assert not any('oifname != "br-i" masquerade' in r for r in got)
    assert 'ip saddr 172.18.0.0/16 oifname "br-a" ct status dnat masquerade' in got


def test_internal_and_isolation_rules() -> None:
    got = rules()
    assert 'iifname "br-i" oifname != "br-i" drop' in got
    assert 'oifname "br-i" iifname != "br-i" drop' in got
    assert 'iifname "br-a" oifname != "br-a" oifname @bridges drop' in got
    assert got.index('oifname "br-i" iifname != "br-i" drop') < got.index("ct status dnat accept")


def test_published_ports_and_recorded_forwarding() -> None:
    got = rules()
    assert "tcp dport 8080 dnat to 172.18.0.2:80" in got
    assert "ip daddr 127.0.0.1 udp dport 5353 dnat to 172.18.0.3:53" in got
    assert 'comment "ip_forward=0"' in got


@pytest.mark.parametrize("make", [
    lambda: Firewall("bad name"),
    lambda: Firewall("ok").render([FwNetwork('x" drop', ip_network("10.0.0.0/8"))], [], "1"),
    lambda: Firewall("ok").render([], [FwPort("icmp", 1, ip_address("10.0.0.1"), 1)], "1"),
    lambda: Firewall("ok").render([], [FwPort("tcp", 1, ip_address("10.0.0.1"), 1, "::1")], "1"),
])
def test_nothing_unchecked_reaches_nft(make) -> None:
    with pytest.raises(InvalidParameter):
        make()


def test_ipv6_networks_get_the_same_rules_in_an_ip6_table() -> None:
    nets = [FwNetwork("br-6", ip_network("172.20.0.0/16"), subnet6=ip_network("fd00:6::/64")),
            FwNetwork("br-6i", ip_network("172.21.0.0/16"), internal=True, subnet6=ip_network("fd00:7::/64")),
            FwNetwork("br-4", ip_network("172.22.0.0/16"))]
    got = [line.strip() for line in Firewall("wharf_t").render6(nets).splitlines()]
    assert got[0] == "table ip6 wharf_t {"
    assert 'ip6 saddr fd00:6::/64 oifname != "br-6" masquerade' in got
    assert not any("fd00:7::/64" in r for r in got)  # internal: no way out, no masquerade
    assert 'iifname "br-6i" oifname != "br-6i" drop' in got
    assert 'iifname "br-4" oifname != "br-4" oifname @bridges drop' in got  # every bridge isolated
    assert not any("dnat" in r or "ip_forward" in r for r in got)
