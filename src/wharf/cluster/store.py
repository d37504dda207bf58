"""wharf's keys in etcd: hosts, overlay networks, global IPAM, endpoints.

Layout under the root (``/wharf`` or the path of ``etcd://host:port/path``)::

    hosts/<node>                {"address", "name"}            under the host's lease
    networks/<net id>           the network's record (Docker's inspect shape, Scope global)
    names/<name>                net id     } made by compare-and-swap, so two hosts
    vnis/<vni>                  net id     } never take the same name, VNI, subnet
    subnets/<a.b.c.d-len>       net id     } or address
    ipam/<net id>/<ip>          {"node", "endpoint"}
    endpoints/<net id>/<ep id>  {"node", "host", "ip", "mac", "name", "aliases"}  under the lease

Endpoints live under the host's lease: a host that stops (its lease is
revoked) or dies (it expires after ``TTL`` seconds) vanishes from every
other host's view with them. Address leases do not: the containers of a
dead daemon keep running and keep their addresses; the host itself drops
its stale ones (``own_addresses``) when it comes back.
"""

from __future__ import annotations

import json
from ipaddress import IPv4Network, ip_address, ip_network
from typing import Any

from wharf.cluster.etcd import EtcdClient, KeyValue
from wharf.errors import Conflict, Forbidden, InvalidParameter, Unavailable

#: Lease TTL in seconds: how long a killed host's endpoints outlive it.
TTL = 10
#: Docker's overlay defaults: VNIs from 4096, subnets 10.0.x.0/24 out of 10.0.0.0/8.
FIRST_VNI = 4096
OVERLAY_POOL = ip_network("10.0.0.0/8")
OVERLAY_PREFIX = 24


def _subnet_key(net: IPv4Network) -> str:
    return str(net).replace("/", "-")


class ClusterStore:
    """One host's view of the cluster's keys (``node``: this host's ID)."""

    def __init__(self, client: EtcdClient, root: str, node: str) -> None:
        self.etcd = client
        self.root = root.rstrip("/") + "/"
        self.node = node
        self.lease = 0

    def key(self, *parts: str) -> str:
        return self.root + "/".join(parts)

    # -- hosts -------------------------------------------------------------------
    async def register(self, address: str, name: str) -> None:
        """A fresh lease and this host's key under it."""
        self.lease = await self.etcd.grant(TTL)
        await self.etcd.put(self.key("hosts", self.node),
                            json.dumps({"address": address, "name": name}), self.lease)

    async def keepalive(self) -> bool:
        """Refresh the lease; False when it had expired (re-register and republish)."""
        return bool(self.lease) and await self.etcd.keepalive(self.lease) > 0

    async def leave(self) -> None:
        """Clean stop: revoking the lease removes the host and its endpoints everywhere."""
        if self.lease:
            await self.etcd.revoke(self.lease)
            self.lease = 0

    # -- networks ------------------------------------------------------------------
    async def create_network(self, net: dict[str, Any], subnet: str | None,
                             gateway: str | None) -> tuple[int, IPv4Network, str]:
        """Reserve the name, a VNI and a subnet, then store the record; every reservation
        is a compare-and-swap, undone if a later step fails. Returns (vni, subnet, gateway)."""
        nid = net["Id"]
        if not await self.etcd.create(self.key("names", net["Name"]), nid):
            raise Conflict(f"network with name {net['Name']} already exists")
        made = [self.key("names", net["Name"])]
        try:
            vni = await self._claim_vni(nid)
            made.append(self.key("vnis", str(vni)))
            pool = await self._claim_subnet(nid, subnet)
            made.append(self.key("subnets", _subnet_key(pool)))
            gw = gateway or str(pool.network_address + 1)
            if ip_address(gw) not in pool:
                raise InvalidParameter(f"no matching subnet for gateway {gw}")
            await self.etcd.create(self.key("ipam", nid, gw),
                                   json.dumps({"node": "", "endpoint": "gateway"}))
            return vni, pool, gw
        except BaseException:
            for key in made:
                await self.etcd.delete(key)
            raise

    async def put_network(self, net: dict[str, Any]) -> None:
        await self.etcd.put(self.key("networks", net["Id"]), json.dumps(net))

    async def remove_network(self, net: dict[str, Any], vni: int, subnet: str) -> None:
        nid = net["Id"]
        eps, _ = await self.etcd.get_prefix(self.key("endpoints", nid) + "/")
        if eps:
            raise Forbidden(f"error while removing network: network {net['Name']} id {nid} "
                            f"has active endpoints")
        subnet_key = self.key("subnets", _subnet_key(ip_network(subnet)))
        for key in (self.key("networks", nid), self.key("names", net["Name"]),
                    self.key("vnis", str(vni)), subnet_key):
            await self.etcd.delete(key)
        await self.etcd.delete(self.key("ipam", nid) + "/", prefix=True)

    async def _claim_vni(self, nid: str) -> int:
        taken, _ = await self.etcd.get_prefix(self.key("vnis") + "/")
        used = {int(kv.key.rsplit("/", 1)[1]) for kv in taken}
        vni = FIRST_VNI
        while True:
            if vni not in used and await self.etcd.create(self.key("vnis", str(vni)), nid):
                return vni
            used.add(vni)
            vni += 1

    async def _claim_subnet(self, nid: str, wanted: str | None) -> IPv4Network:
        taken, _ = await self.etcd.get_prefix(self.key("subnets") + "/")
        used = [ip_network(kv.key.rsplit("/", 1)[1].replace("-", "/")) for kv in taken]
        if wanted:
            try:
                net = ip_network(wanted, strict=False)
            except ValueError:
                raise InvalidParameter(f"invalid subnet: {wanted}") from None
            if any(net.overlaps(u) for u in used) or not await self.etcd.create(
                    self.key("subnets", _subnet_key(net)), nid):
                raise Forbidden("Pool overlaps with other one on this address space")
            return net
        for net in OVERLAY_POOL.subnets(new_prefix=OVERLAY_PREFIX):
            if not any(net.overlaps(u) for u in used) and await self.etcd.create(
                    self.key("subnets", _subnet_key(net)), nid):
                return net
        raise Forbidden("could not find an available, non-overlapping IPv4 address pool "
                        "for the overlay network")

    # -- addresses -------------------------------------------------------------------
    async def allocate(self, nid: str, subnet: IPv4Network, endpoint: str,
                       requested: str | None = None) -> str:
        """A cluster-wide unique address (``requested`` or the lowest free one)."""
        value = json.dumps({"node": self.node, "endpoint": endpoint})
        if requested:
            if ip_address(requested) not in subnet:
                raise InvalidParameter(f"Invalid address {requested}: It does not belong to "
                                       "any of this network's subnets")
            if not await self.etcd.create(self.key("ipam", nid, requested), value):
                raise Forbidden(f"Address already in use: {requested}")
            return requested
        taken, _ = await self.etcd.get_prefix(self.key("ipam", nid) + "/")
        used = {kv.key.rsplit("/", 1)[1] for kv in taken}
        for ip in map(str, subnet.hosts()):
            if ip not in used and await self.etcd.create(self.key("ipam", nid, ip), value):
                return ip
        raise Unavailable(f"no available IPv4 addresses on this network's address pools: "
                          f"{nid} ({subnet})")

    async def release(self, nid: str, ip: str) -> None:
        await self.etcd.delete(self.key("ipam", nid, ip))

    async def own_addresses(self) -> list[tuple[str, str, str]]:
        """(net id, ip, endpoint id) of every address this host holds."""
        kvs, _ = await self.etcd.get_prefix(self.key("ipam") + "/")
        out = []
        for kv in kvs:
            owner = json.loads(kv.value)
            if owner.get("node") == self.node:
                nid, ip = kv.key[len(self.key("ipam")) + 1:].split("/")
                out.append((nid, ip, owner["endpoint"]))
        return out

    # -- endpoints ---------------------------------------------------------------------
    async def publish(self, nid: str, endpoint: str, info: dict[str, Any]) -> None:
        await self.etcd.put(self.key("endpoints", nid, endpoint),
                            json.dumps({**info, "node": self.node}), self.lease)

    async def unpublish(self, nid: str, endpoint: str) -> None:
        await self.etcd.delete(self.key("endpoints", nid, endpoint))

    # -- the whole state -------------------------------------------------------------------
    async def snapshot(self) -> tuple[dict[str, KeyValue], int]:
        """Every key under the root by its path below it, and the revision to watch from."""
        kvs, rev = await self.etcd.get_prefix(self.root)
        return {kv.key[len(self.root):]: kv for kv in kvs}, rev
