"""Address management: subnets for networks, addresses for endpoints (IPv4 and IPv6).

Pure logic over a JSON-able ``state`` dict that the caller (the engine) owns:
it persists the pools and, at start, gives back the leases of the running
containers (``reserve``), so no address is ever handed out twice. The only kernel input is the list of subnets already routed on the
host, which the caller passes in (see ``bridge.routed_subnets``): an automatic
pool never overlaps one of them, because another engine (a real dockerd with
172.17.0.0/16) or the host's own LAN may own it. Automatic pools are IPv4
only, as Docker's defaults: an IPv6 pool is always the one the user gave
(the engine keeps a network's IPv6 pool under a key of its own).

State shape::

    {"<network key>": {"subnet": "172.18.0.0/16", "gateway": "172.18.0.1",
                       "ip_range": "172.18.5.0/24" | null,
                       "aux": {"name": "172.18.1.5"},  # never leased
                       "allocated": ["172.18.0.2", ...]}}
"""

from __future__ import annotations

from dataclasses import dataclass
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network, ip_address, ip_network
from typing import Any, Iterable, Iterator

from wharf.errors import Forbidden, InvalidParameter, NotFound, Unavailable

Network = IPv4Network | IPv6Network
Address = IPv4Address | IPv6Address


@dataclass(frozen=True)
class PoolBase:
    """One of Docker's ``default-address-pools``: ``base`` split into ``size`` prefixes."""

    base: str
    size: int

    def subnets(self) -> Iterator[IPv4Network]:
        return ip_network(self.base).subnets(new_prefix=self.size)


#: Docker's defaults: 172.17-31.0.0/16 one /16 each, then 192.168.0.0/16 in /20s.
DEFAULT_POOLS: tuple[PoolBase, ...] = (
    *(PoolBase(f"172.{n}.0.0/16", 16) for n in range(17, 32)),
    PoolBase("192.168.0.0/16", 20),
)


@dataclass(frozen=True)
class PoolConfig:
    """What a network got: Docker's ``IPAM.Config`` entry."""

    subnet: Network
    gateway: Address
    ip_range: Network | None
    #: ``--aux-address name=ip``: addresses the network's hosts use, never leased
    aux: dict[str, str] | None = None

    def to_docker(self) -> dict[str, str]:
        """The ``IPAM.Config[]`` item of ``network inspect``."""
        out = {"Subnet": str(self.subnet), "Gateway": str(self.gateway)}
        if self.ip_range is not None:
            out["IPRange"] = str(self.ip_range)
        return out


class Ipam:
    """Pools and leases over the caller's ``state`` dict (mutated in place)."""

    def __init__(self, state: dict[str, Any], routed: Iterable[IPv4Network] = (),
                 pools: Iterable[PoolBase] = DEFAULT_POOLS) -> None:
        self.state = state
        self._routed = [n for n in routed if n.prefixlen > 0]
        self._pools = tuple(pools)

    def create_pool(self, key: str, subnet: str | None = None, gateway: str | None = None,
                    ip_range: str | None = None, aux: dict[str, str] | None = None) -> PoolConfig:
        """Reserve a subnet for network ``key``: the one given, or the first free default.

        An explicit subnet may overlap a host route (the user asked for it)
        but never another network's; an automatic one avoids both.
        """
        if key in self.state:
            return self.pool(key)
        net = _parse_network(subnet, "subnet") if subnet else self._free_default()
        if subnet and any(net.overlaps(used) for used in self._used()):
            raise Forbidden("Pool overlaps with other one on this address space")
        for name, text in (aux or {}).items():
            if _parse_address(text, f"aux-address {name}") not in net:
                raise InvalidParameter(f"no matching subnet for aux-address {text}")
        if gateway is not None:
            gw = _parse_address(gateway, "gateway")
            if gw not in net:
                raise InvalidParameter(f"no matching subnet for gateway {gateway}")
        elif net.num_addresses > 2:
            gw = net.network_address + 1
        else:
            raise InvalidParameter(f"subnet {net} has no room for a gateway")
        rng = None
        if ip_range is not None:
            rng = _parse_network(ip_range, "ip-range")
            if rng.version != net.version or not rng.subnet_of(net):  # type: ignore[arg-type]
                raise InvalidParameter(f"no matching subnet for range {ip_range}")
        self.state[key] = {"subnet": str(net), "gateway": str(gw),
                           "ip_range": None if rng is None else str(rng), "aux": dict(aux or {}),
                           "allocated": []}
        return self.pool(key)

    def pool(self, key: str) -> PoolConfig:
        entry = self._entry(key)
        rng = entry.get("ip_range")
        return PoolConfig(ip_network(entry["subnet"]), ip_address(entry["gateway"]),
                          None if rng is None else ip_network(rng), entry.get("aux") or None)

    def has_pool(self, key: str) -> bool:
        return key in self.state

    def release_pool(self, key: str) -> None:
        """Forget network ``key`` and every lease in it."""
        self.state.pop(key, None)

    def allocate(self, key: str, address: str | None = None) -> Address:
        """Lease ``address`` (``--ip``) or the lowest free one in the range.

        The network and broadcast addresses and the gateway are never leased.
        """
        pool = self.pool(key)
        taken = self._taken(key, pool)
        if address is not None:
            ip = _parse_address(address, "address")
            if ip not in pool.subnet or ip in (pool.subnet.network_address,
                                                pool.subnet.broadcast_address):
                raise InvalidParameter(
                    f"Invalid address {address}: It does not belong to any of this "
                    "network's subnets")
            if ip in taken:
                raise Forbidden(f"Address already in use: {address}")
        else:
            ip = next((a for a in (pool.ip_range or pool.subnet).hosts() if a not in taken), None)
            if ip is None:
                raise Unavailable(f"no available IPv{pool.subnet.version} addresses on this network's "
                                  f"address pools: {key} ({pool.subnet})")
        self._entry(key)["allocated"].append(str(ip))
        return ip

    def reserve(self, key: str, address: str) -> None:
        """Hold ``address`` again: a restored endpoint's, given before the restart."""
        allocated = self._entry(key)["allocated"]
        if address not in allocated:
            allocated.append(address)

    def release(self, key: str, address: str | Address) -> None:
        """Return a lease; releasing one not held is a no-op (cleanup may repeat)."""
        allocated = self._entry(key)["allocated"]
        if str(address) in allocated:
            allocated.remove(str(address))

    def _entry(self, key: str) -> dict[str, Any]:
        try:
            return self.state[key]
        except KeyError:
            raise NotFound(f"network {key} has no address pool") from None

    def _taken(self, key: str, pool: PoolConfig) -> set[Address]:
        return {pool.gateway, *(ip_address(a) for a in self._entry(key)["allocated"]),
                *(ip_address(a) for a in (pool.aux or {}).values())}

    def _used(self) -> list[Network]:
        return [ip_network(e["subnet"]) for e in self.state.values()]

    def _free_default(self) -> IPv4Network:
        busy = self._used() + self._routed
        for base in self._pools:
            for net in base.subnets():
                if not any(net.overlaps(b) for b in busy):
                    return net
        raise Forbidden("could not find an available, non-overlapping IPv4 address pool "
                        "among the defaults to assign to the network")


def _parse_network(text: str, what: str) -> Network:
    try:
        return ip_network(text, strict=False)
    except ValueError:
        raise InvalidParameter(f"invalid {what}: {text}") from None


def _parse_address(text: str, what: str) -> Address:
    try:
        return ip_address(text)
    except ValueError:
        raise InvalidParameter(f"invalid {what}: {text}") from None
