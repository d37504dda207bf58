"""Which host serves a reference's domain, and whether plain HTTP may be used.

Docker Hub's name (``docker.io``) is not where its registry lives
(``registry-1.docker.io``), and its credentials are filed under the old
index address ``https://index.docker.io/v1/``. Like dockerd, plain HTTP is
allowed for loopback registries and those listed as insecure (flag
wharfd's ``--insecure-registry``): for them HTTPS is tried first, without certificate checks, then
HTTP (a loopback registry with TLS files in certs.d is checked: ``certs``).

docker.io pulls go to the daemon's registry mirrors first (``--registry-mirror``,
in order), then to Docker Hub itself: ``pull_endpoints``. A mirror is reached
by the scheme its URL names.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

if TYPE_CHECKING:
    from wharf.registry.client.certs import HostTLS

DOCKER_HUB = "docker.io"
DOCKER_HUB_HOST = "registry-1.docker.io"
INDEX_SERVER = "https://index.docker.io/v1/"


def registry_host(domain: str) -> str:
    """The host:port to talk to for a reference's domain."""
    return DOCKER_HUB_HOST if domain == DOCKER_HUB else domain


@dataclass(frozen=True)
class Endpoint:
    """Where one attempt at a pull goes."""

    host: str
    #: the scheme a mirror's URL names; None: the ``Policy``'s (HTTPS, then HTTP if insecure)
    scheme: str | None = None
    mirror: bool = False
    #: hosts.toml's ``ca``/``client``/``skip_verify`` for it; None: its certs.d files (``certs``)
    tls: HostTLS | None = None


def validate_mirror(url: str) -> str:
    """A ``--registry-mirror`` URL as dockerd keeps it (a trailing ``/``), or ValueError
    with dockerd's words (moby registry.ValidateMirror)."""
    try:
        parts = urlsplit(url)
    except ValueError:
        raise ValueError(f"invalid mirror: {url!r} is not a valid URI") from None
    if parts.scheme not in ("http", "https"):
        raise ValueError(f'invalid mirror: unsupported scheme "{parts.scheme}" in "{url}"')
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        raise ValueError(f'invalid mirror: path, query, or fragment at end of the URI "{url}"')
    if parts.username is not None:
        shown = url.replace(parts.netloc, f"{parts.username}:xxxxx@{parts.hostname}"
                            + (f":{parts.port}" if parts.port else ""))
        raise ValueError(f'invalid mirror: username/password not allowed in URI "{shown}"')
    return url.rstrip("/") + "/"


def pull_endpoints(domain: str, mirrors: list[str]) -> list[Endpoint]:
    """Where to pull a reference of ``domain`` from, in the order to try: for Docker Hub
    each mirror, then the Hub; any other registry is its own one endpoint."""
    if domain != DOCKER_HUB:
        return [Endpoint(domain)]
    return [*(endpoint_of(m, mirror=True) for m in mirrors), Endpoint(DOCKER_HUB_HOST)]


def endpoint_of(url: str, mirror: bool) -> Endpoint:
    """A mirror's or server's URL (``https://`` when it names no scheme) as an ``Endpoint``."""
    parts = urlsplit(url if "://" in url else "https://" + url)
    return Endpoint(parts.netloc, parts.scheme, mirror=mirror)


def domain_of(server_address: str) -> str:
    """``https://index.docker.io/v1/``, ``http://h:5000/``, ``h:5000`` → the registry's domain."""
    address = server_address.strip()
    for prefix in ("https://", "http://"):
        address = address.removeprefix(prefix)
    host = address.split("/", 1)[0]
    if not host or host in ("index.docker.io", DOCKER_HUB_HOST, DOCKER_HUB):
        return DOCKER_HUB
    return host


def host_name(host: str) -> str:
    """``h:5000`` → ``h``, ``[::1]:5000`` → ``::1``."""
    name = host.rsplit(":", 1)[0] if host.count(":") == 1 or host.startswith("[") else host
    return name.strip("[]")


def _address(name: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(name)
    except ValueError:
        return None


class Policy:
    """Which URL schemes each registry host may be reached by."""

    def __init__(self, insecure: list[str]) -> None:
        self._names = {e for e in insecure if "/" not in e}
        self._nets = [ipaddress.ip_network(e, strict=False) for e in insecure if "/" in e]

    def insecure(self, host: str) -> bool:
        """Loopback, or listed by host:port, host, or CIDR of its address."""
        name = host_name(host)
        if name == "localhost" or self.listed(host):
            return True
        address = _address(name)
        return address is not None and address.is_loopback

    def listed(self, host: str) -> bool:
        """Named by ``--insecure-registry`` (host:port, host, or a CIDR of its address)."""
        name = host_name(host)
        if host in self._names or name in self._names:
            return True
        address = _address(name)
        return address is not None and any(address in net for net in self._nets)

    def schemes(self, host: str) -> tuple[str, ...]:
        return ("https", "http") if self.insecure(host) else ("https",)
