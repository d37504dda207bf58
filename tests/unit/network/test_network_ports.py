"""``-p`` specs and PortBindings, with Docker's meaning and messages."""

import pytest

from wharf.errors import InvalidParameter
from wharf.network.ports import PortBinding, from_port_bindings, parse_publish, to_port_bindings


@pytest.mark.parametrize("spec, want", [
    ("80", [PortBinding(80)]),
    ("8080:80", [PortBinding(80, "tcp", "", 8080, 8080)]),
    ("127.0.0.1:8080:80/udp", [PortBinding(80, "udp", "127.0.0.1", 8080, 8080)]),
    ("127.0.0.1::80", [PortBinding(80, "tcp", "127.0.0.1")]),
    ("[::1]:8080:80", [PortBinding(80, "tcp", "::1", 8080, 8080)]),
    ("8000-8001:80-81/TCP", [PortBinding(80, "tcp", "", 8000, 8000),
                             PortBinding(81, "tcp", "", 8001, 8001)]),
    ("80-81", [PortBinding(80), PortBinding(81)]),
    ("8000-8010:80", [PortBinding(80, "tcp", "", 8000, 8010)]),
])
def test_parse(spec: str, want: list) -> None:
    assert parse_publish(spec) == want


@pytest.mark.parametrize("spec, message", [
    ("abc", "invalid containerPort: abc"),
    ("x:80", "invalid hostPort: x"),
    ("1.2.3:80:80", "invalid IP address: 1.2.3"),
    ("80/icmp", "invalid proto: icmp"),
    ("8000-8001:80-82", "invalid ranges specified for container and host Ports: 80-82 and 8000-8001"),
    ("70000", "invalid containerPort: 70000"),
    ("8080:", "no port specified"),
    ("a:b:c:d", "invalid port specification"),
])
def test_parse_errors(spec: str, message: str) -> None:
    with pytest.raises(InvalidParameter, match=message):
        parse_publish(spec)


def test_port_bindings_round_trip() -> None:
    bindings = [*parse_publish("127.0.0.1:8080:80"), *parse_publish("8000-8010:53/udp"),
                *parse_publish("443")]
    api = to_port_bindings(bindings)
    assert api == {"80/tcp": [{"HostIp": "127.0.0.1", "HostPort": "8080"}],
                   "53/udp": [{"HostIp": "", "HostPort": "8000-8010"}],
                   "443/tcp": [{"HostIp": "", "HostPort": ""}]}
    assert from_port_bindings(api) == bindings
    assert list(bindings[1].host_ports) == list(range(8000, 8011))
    assert from_port_bindings({"80/tcp": None}) == []
