"""Published-port specs: ``-p [ip:][hostPort:]containerPort[/proto]`` and the API's PortBindings.

Pure parsing with Docker's rules and messages (``nat.ParsePortSpec``), so the
CLI (no third-party imports here) and the engine agree on what a spec means:

* ``80``                     → container 80/tcp on a random host port, all addresses
* ``8080:80``, ``127.0.0.1:8080:80``, ``127.0.0.1::80/udp``
* ``8000-8001:80-81``        → 8000→80 and 8001→81 (ranges of equal length)
* ``8000-8010:80``           → 80 on the first free host port of 8000..8010
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

from wharf.errors import InvalidParameter

PROTOCOLS = ("tcp", "udp", "sctp")


@dataclass(frozen=True)
class PortBinding:
    """One container port bound to a host port (or a host range to pick from; 0 = random)."""

    container_port: int
    proto: str = "tcp"
    host_ip: str = ""
    host_port: int = 0
    host_port_end: int = 0

    @property
    def key(self) -> str:
        """The ``ExposedPorts``/``PortBindings`` key: ``80/tcp``."""
        return f"{self.container_port}/{self.proto}"

    @property
    def host_ports(self) -> range:
        """Candidate host ports; empty means "any ephemeral port"."""
        if not self.host_port:
            return range(0)
        return range(self.host_port, max(self.host_port, self.host_port_end) + 1)

    def docker_host_port(self) -> str:
        """``HostPort`` as Docker writes it: "", "8080" or "8000-8010"."""
        if not self.host_port:
            return ""
        if self.host_port_end > self.host_port:
            return f"{self.host_port}-{self.host_port_end}"
        return str(self.host_port)


def parse_publish(spec: str) -> list[PortBinding]:
    """The bindings a ``-p`` spec asks for (one per container port of a range)."""
    rest, _, proto = spec.partition("/")
    proto = proto.lower() or "tcp"
    host_ip, host_part, container_part = _split(rest, spec)
    if host_ip:
        try:
            ipaddress.ip_address(host_ip)
        except ValueError:
            raise InvalidParameter(f"invalid IP address: {host_ip}") from None
    if not container_part:
        raise InvalidParameter(f"no port specified: {spec}<empty>")
    c_start, c_end = _port_range(container_part, "containerPort")
    h_start, h_end = _port_range(host_part, "hostPort") if host_part else (0, 0)
    if proto not in PROTOCOLS:
        raise InvalidParameter(f"invalid proto: {proto}")
    if host_part and c_end - c_start != h_end - h_start:
        if c_end != c_start:
            raise InvalidParameter("invalid ranges specified for container and host Ports: "
                                   f"{container_part} and {host_part}")
        return [PortBinding(c_start, proto, host_ip, h_start, h_end)]
    out = []
    for i, port in enumerate(range(c_start, c_end + 1)):
        host = h_start + i if host_part else 0
        out.append(PortBinding(port, proto, host_ip, host, host))
    return out


def from_port_bindings(port_bindings: dict[str, list[dict[str, str]] | None] | None
                       ) -> list[PortBinding]:
    """HostConfig.PortBindings (``{"80/tcp": [{"HostIp", "HostPort"}]}``) → bindings."""
    out = []
    for key, hosts in (port_bindings or {}).items():
        port_text, _, proto = key.partition("/")
        port, _ = _port_range(port_text, "containerPort")
        proto = proto.lower() or "tcp"
        if proto not in PROTOCOLS:
            raise InvalidParameter(f"invalid proto: {proto}")
        for host in hosts or []:
            host_port = host.get("HostPort") or ""
            start, end = _port_range(host_port, "hostPort") if host_port else (0, 0)
            out.append(PortBinding(port, proto, host.get("HostIp") or "", start, end))
    return out


def to_port_bindings(bindings: list[PortBinding]) -> dict[str, list[dict[str, str]]]:
    """Bindings → HostConfig.PortBindings, the inverse of ``from_port_bindings``."""
    out: dict[str, list[dict[str, str]]] = {}
    for b in bindings:
        out.setdefault(b.key, []).append({"HostIp": b.host_ip, "HostPort": b.docker_host_port()})
    return out


def _split(rest: str, spec: str) -> tuple[str, str, str]:
    """(ip, hostPort, containerPort); an IPv6 host address comes in brackets."""
    if rest.startswith("["):
        ip, bracket, tail = rest[1:].partition("]")
        if not bracket or not tail.startswith(":"):
            raise InvalidParameter(f"invalid IP address: {spec}")
        host, _, container = tail[1:].rpartition(":")
        return ip, host, container
    parts = rest.split(":")
    if len(parts) == 1:
        return "", "", parts[0]
    if len(parts) == 2:
        return "", parts[0], parts[1]
    if len(parts) == 3:
        return parts[0], parts[1], parts[2]
    raise InvalidParameter(f"invalid port specification: {spec!r}")


def _port_range(text: str, what: str) -> tuple[int, int]:
    start_text, dash, end_text = text.partition("-")
    try:
        start = int(start_text)
        end = int(end_text) if dash else start
    except ValueError:
        raise InvalidParameter(f"invalid {what}: {text}") from None
    if not (0 < start <= 65535 and 0 < end <= 65535) or end < start:
        raise InvalidParameter(f"invalid {what}: {text}")
    return start, end


def summary_ports(published: dict[str, list[dict[str, str]] | None] | None
                  ) -> list[dict[str, object]]:
    """``NetworkSettings.Ports`` → the ``Ports`` list of ``GET /containers/json``."""
    out: list[dict[str, object]] = []
    for key, hosts in (published or {}).items():
        port, _, proto = key.partition("/")
        if not hosts:
            out.append({"PrivatePort": int(port), "Type": proto or "tcp"})
        for host in hosts or []:
            out.append({"IP": host.get("HostIp") or "0.0.0.0", "PrivatePort": int(port),
                        "PublicPort": int(host["HostPort"]), "Type": proto or "tcp"})
    return out
