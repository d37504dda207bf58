"""Which host serves a reference's domain, and whether plain HTTP may be used.

Docker Hub's name (``docker.io``) is not where its registry lives
(``registry-1.docker.io``), and its credentials are filed under the old
index address ``https://index.docker.io/v1/``. Like dockerd, plain HTTP is
allowed for loopback registries and those listed as insecure (flag
wharfd's ``--insecure-registry``): for them HTTPS is tried first, without certificate checks, then
HTTP.
"""

from __future__ import annotations

import ipaddress

DOCKER_HUB = "docker.io"
DOCKER_HUB_HOST = "registry-1.docker.io"
INDEX_SERVER = "https://index.docker.io/v1/"


def registry_host(domain: str) -> str:
    """The host:port to talk to for a reference's domain."""
    return DOCKER_HUB_HOST if domain == DOCKER_HUB else domain


def domain_of(server_address: str) -> str:
    """``https://index.docker.io/v1/``, ``http://h:5000/``, ``h:5000`` → the registry's domain."""
    address = server_address.strip()
    for prefix in ("https://", "http://"):
        address = address.removeprefix(prefix)
    host = address.split("/", 1)[0]
    if not host or host in ("index.docker.io", DOCKER_HUB_HOST, DOCKER_HUB):
        return DOCKER_HUB
    return host


class Policy:
    """Which URL schemes each registry host may be reached by."""

    def __init__(self, insecure: list[str]) -> None:
        self._names = {e for e in insecure if "/" not in e}
        self._nets = [ipaddress.ip_network(e, strict=False) for e in insecure if "/" in e]

    def insecure(self, host: str) -> bool:
        """Loopback, or listed by host:port, host, or CIDR of its address."""
        name = host.rsplit(":", 1)[0] if host.count(":") == 1 or host.startswith("[") else host
        name = name.strip("[]")
        if host in self._names or name in self._names or name == "localhost":
            return True
        try:
            address = ipaddress.ip_address(name)
        except ValueError:
            return False
        return address.is_loopback or any(address in net for net in self._nets)

    def schemes(self, host: str) -> tuple[str, ...]:
        return ("https", "http") if self.insecure(host) else ("https",)
