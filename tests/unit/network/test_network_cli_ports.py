"""Published ports between the CLI, the API record and ``ps``: the same spec all the way."""

from __future__ import annotations

import pytest

from wharf.cli import containerspec
from wharf.cli.errors import CommandError
from wharf.cli.flags import FlagSet
from wharf.network.ports import summary_ports


def body(*argv: str) -> dict:
    parser = FlagSet("wharf run", "test")
    containerspec.add_container_flags(parser)
    return containerspec.build(parser.parse_args([*argv, "busybox"]))


def test_publish_flags_become_dockers_port_bindings():
    b = body("-p", "127.0.0.1:8080:80", "-p", "8000-8001:90-91/udp", "-p", "443", "-P")
    hc = b["HostConfig"]
    assert hc["PortBindings"] == {
        "80/tcp": [{"HostIp": "127.0.0.1", "HostPort": "8080"}],
        "90/udp": [{"HostIp": "", "HostPort": "8000"}],
        "91/udp": [{"HostIp": "", "HostPort": "8001"}],
        "443/tcp": [{"HostIp": "", "HostPort": ""}]}
    assert set(b["ExposedPorts"]) == {"80/tcp", "90/udp", "91/udp", "443/tcp"}
    assert hc["PublishAllPorts"] is True


def test_a_bad_publish_spec_is_a_usage_error():
    with pytest.raises(CommandError) as err:
        body("-p", "80/icmp")
    assert "invalid proto: icmp" in str(err.value)


def test_endpoint_flags_go_to_the_chosen_network():
    b = body("--network", "front", "--ip", "10.9.0.9", "--network-alias", "web",
             "--link", "db:database", "--mac-address", "02:42:0a:09:00:09")
    assert b["NetworkingConfig"]["EndpointsConfig"] == {"front": {
        "IPAMConfig": {"IPv4Address": "10.9.0.9"}, "Aliases": ["web"],
        "Links": ["db:database"]}}
    assert b["MacAddress"] == "02:42:0a:09:00:09"
    assert b["HostConfig"]["Links"] == ["db:database"]


def test_ps_ports_come_from_network_settings():
    ports = summary_ports({"80/tcp": [{"HostIp": "0.0.0.0", "HostPort": "8080"}],
                           "53/udp": None})
    assert {"IP": "0.0.0.0", "PrivatePort": 80, "PublicPort": 8080, "Type": "tcp"} in ports
    assert {"PrivatePort": 53, "Type": "udp"} in ports
