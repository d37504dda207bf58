"""The overlay driver: networks that span wharfd hosts, agreed on through etcd.

``NetworkService`` keeps overlay networks among its records like any other
(``Scope: global``, local containers under ``Containers``) and hands the
overlay-specific steps to ``OverlayDriver``: reserving name, VNI and subnet
in the cluster store (``create``), a cluster-wide unique address per endpoint
(``allocate``), publishing and withdrawing endpoints (``joined``/``left``),
the ``BridgeNetwork`` its veths plug into (``bridge_network``, the VNI's
bridge of ``wharf.network.vxlan``) and names of remote containers for the
embedded DNS (``resolve``).

A background task keeps this host in the cluster: it registers the host
under a lease, keeps the lease alive, takes a snapshot of the store,
republishes the endpoints of the local containers (after a restart or an
expired lease) and drops this host's stale ones, then follows a watch. Each
change is reconciled into the kernel (FDB and neighbour entries of remote
endpoints, ``vxlan.sync_peers``) and into the service's records (networks
made or removed on other hosts, ``Peers``). When etcd is unreachable the
task retries every second; the kernel keeps what it has, so containers keep
talking, and a full resync follows when the store is back.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import secrets
import socket
from ipaddress import IPv4Address, ip_address, ip_network
from typing import Any

from wharf.cluster.etcd import EtcdClient, StoreUnavailable, parse_endpoints
from wharf.cluster.store import TTL, ClusterStore
from wharf.errors import Forbidden, InvalidParameter
from wharf.network import vxlan
from wharf.network.bridge import BridgeNetwork

log = logging.getLogger("wharf.network.overlay")

NO_STORE = ("overlay networks need a cluster store: start wharfd with "
            "--cluster-store etcd://host:port and --cluster-advertise <iface|ip>")
VNI_OPTION = "com.docker.network.driver.overlay.vxlanid_list"
#: Seconds between two attempts to reach an unreachable store.
RETRY = 1.0


def advertise_address(value: str) -> str:
    """``--cluster-advertise``: an IPv4 address or an interface's first one (``:port`` ignored)."""
    host = value.rsplit(":", 1)[0] if value.count(":") == 1 else value
    try:
        return str(ip_address(host))
    except ValueError:
        pass
    from pyroute2 import IPRoute
    with IPRoute() as ipr:
        for addr in ipr.get_addr(family=socket.AF_INET, label=host):
            return addr.get("IFA_ADDRESS")
    raise InvalidParameter(f"--cluster-advertise {value}: no such address or interface with "
                           "an IPv4 address")


def split_store(url: str) -> tuple[list[str], str]:
    """``etcd://h:p[,h:p]/path`` to (gateway URLs, key root; ``/wharf`` by default)."""
    rest = url.partition("://")[2]
    hosts, _, path = rest.partition("/")
    return parse_endpoints(url.partition("://")[0] + "://" + hosts), "/" + (path.strip("/")
                                                                            or "wharf")


class OverlayDriver:
    """This host's member of the cluster, working on ``service``'s records."""

    def __init__(self, store_url: str, advertise: str, node_file: str, service: Any) -> None:
        endpoints, root = split_store(store_url)
        self.client = EtcdClient(endpoints)
        self._advertise = advertise
        self._node_file = node_file
        self.root = root
        self.store: ClusterStore | None = None
        self.address = ""
        self.service = service
        self.state: dict[str, Any] = {}  # path below the root -> KeyValue, as last seen
        #: Networks this host just created (True) or removed (False), until the store's
        #: view agrees: an _apply on an older view (the watch lagging, a resync's
        #: snapshot taken before the change) must neither drop nor revive them.
        self._pending: dict[str, bool] = {}
        self._task: asyncio.Task | None = None
        self.synced = asyncio.Event()

    # -- life ------------------------------------------------------------------------
    async def start(self) -> None:
        """Join the cluster (a first sync is awaited briefly), then follow it in the background."""
        self.address = await asyncio.to_thread(advertise_address, self._advertise)
        node = await asyncio.to_thread(_node_id, self._node_file)
        self.store = ClusterStore(self.client, self.root, node)
        self._task = asyncio.create_task(self._run())
        try:
            await asyncio.wait_for(asyncio.shield(self.synced.wait()), 5)
        except asyncio.TimeoutError:
            log.warning("cluster store not reachable yet; overlay networks follow when it is")

    async def close(self) -> None:
        """Clean stop: leave the cluster (our endpoints vanish everywhere); devices stay."""
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        try:
            if self.store is not None:
                await self.store.leave()
        except StoreUnavailable as e:
            log.warning("leaving the cluster: %s", e)
        await self.client.close()

    # -- networks ------------------------------------------------------------------------
    async def create(self, net: dict[str, Any], cfg: dict[str, Any]) -> None:
        """Reserve name, VNI and subnet cluster-wide; fill ``net`` in and store it."""
        if cfg.get("IPRange"):
            raise InvalidParameter("overlay networks do not support --ip-range")
        store = self._store()
        vni, subnet, gateway = await store.create_network(net, cfg.get("Subnet") or None,
                                                          cfg.get("Gateway") or None)
        net.update(Scope="global", Peers=[])
        net["IPAM"]["Config"] = [{"Subnet": str(subnet), "Gateway": gateway}]
        net["Options"][VNI_OPTION] = str(vni)
        await store.put_network(_shared(net))
        self._pending[net["Id"]] = True

    async def remove(self, net: dict[str, Any]) -> None:
        cfg = net["IPAM"]["Config"][0]
        await self._store().remove_network(net, vni_of(net), cfg["Subnet"])
        self._pending[net["Id"]] = False
        await asyncio.to_thread(vxlan.delete, vni_of(net))

    def bridge_network(self, net: dict[str, Any]) -> BridgeNetwork:
        """Where the veths of ``net`` plug in: the VNI's bridge; no gateway route (internal)."""
        cfg = net["IPAM"]["Config"][0]
        return BridgeNetwork(vxlan.bridge_name(vni_of(net)), ip_network(cfg["Subnet"]),
                             ip_address(cfg["Gateway"]), internal=True, mtu=vxlan.MTU)

    # -- endpoints ----------------------------------------------------------------------------
    async def allocate(self, net: dict[str, Any], endpoint: str,
                       requested: str | None) -> IPv4Address:
        """A cluster-wide unique address, and this host's devices for the network."""
        store = self._store()
        ip = await store.allocate(net["Id"], ip_network(net["IPAM"]["Config"][0]["Subnet"]),
                                  endpoint, requested)
        try:
            await asyncio.to_thread(vxlan.ensure, vni_of(net), self.address)
        except BaseException:
            await store.release(net["Id"], ip)
            raise
        return ip_address(ip)

    async def release(self, net: dict[str, Any], address: IPv4Address | str) -> None:
        """Give an address back; an unreachable store is cleaned up at the next resync."""
        try:
            await self._store().release(net["Id"], str(address))
        except StoreUnavailable as e:
            log.warning("releasing %s: %s (dropped at the next resync)", address, e)

    async def joined(self, net: dict[str, Any], cid: str) -> None:
        """Publish a local endpoint (``net["Containers"][cid]``, just made) to the cluster."""
        ep = net["Containers"][cid]
        await self._store().publish(net["Id"], ep["EndpointID"], _endpoint_info(net, cid,
                                                                                self.address))

    async def left(self, net: dict[str, Any], ep: dict[str, Any]) -> None:
        """A local endpoint is gone: withdraw it; the devices go with the last one."""
        try:
            await self._store().unpublish(net["Id"], ep["EndpointID"])
        except StoreUnavailable as e:
            log.warning("withdrawing endpoint %s: %s (dropped at the next resync)",
                        ep["EndpointID"][:12], e)
        await self.release(net, ep["IPv4Address"].split("/")[0])
        if not net["Containers"]:
            await asyncio.to_thread(vxlan.delete, vni_of(net))

    def resolve(self, net: dict[str, Any], name: str) -> list[IPv4Address]:
        """Addresses of containers on ``net`` on other hosts called ``name`` (or aliased)."""
        return [ip_address(info["ip"]) for info in self._remote(net["Id"])
                if name in {info["name"], *info.get("aliases", [])}]

    # -- the cluster view --------------------------------------------------------------------------
    def _store(self) -> ClusterStore:
        if self.store is None:
            raise Forbidden(NO_STORE)
        return self.store

    def _entries(self, prefix: str) -> dict[str, dict[str, Any]]:
        return {path[len(prefix):]: json.loads(kv.value) for path, kv in self.state.items()
                if path.startswith(prefix)}

    def _remote(self, nid: str) -> list[dict[str, Any]]:
        node = self._store().node
        return [e for e in self._entries(f"endpoints/{nid}/").values() if e.get("node") != node]

    def _peers(self, nid: str) -> list[dict[str, str]]:
        hosts = self._entries("hosts/")
        nodes = {e["node"] for e in self._entries(f"endpoints/{nid}/").values()}
        return sorted(({"Name": hosts[n]["name"], "IP": hosts[n]["address"]}
                       for n in nodes if n in hosts), key=lambda p: p["IP"])

    def _local(self) -> dict[str, dict[str, Any]]:
        return {nid: n for nid, n in self.service._nets.items() if n["Driver"] == "overlay"}

    async def _run(self) -> None:
        while True:
            try:
                revision = await self._resync()
                self.synced.set()
                keepalive = asyncio.create_task(self._keepalive())
                try:
                    await self._follow(revision)
                finally:
                    keepalive.cancel()
            except StoreUnavailable as e:
                log.warning("cluster store: %s", e)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("cluster sync failed")
            await asyncio.sleep(RETRY)

    async def _keepalive(self) -> None:
        """Until the lease is lost or the store is unreachable (the watch breaks then too)."""
        store = self._store()
        try:
            while await store.keepalive():
                await asyncio.sleep(TTL / 3)
        except StoreUnavailable:
            pass

    async def _follow(self, revision: int) -> None:
        """Apply the watch's changes until it breaks or this host's lease is gone."""
        me = f"hosts/{self._store().node}"
        async for event in self.client.watch(self.root + "/", revision + 1):
            path = event.kv.key[len(self.root) + 1:]
            if event.deleted:
                self.state.pop(path, None)
            else:
                self.state[path] = event.kv
            await self._apply()
            if path == me and event.deleted:
                return  # the lease expired: register and republish

    async def _resync(self) -> int:
        """(Re)join: lease, snapshot, republish local endpoints, drop own stale keys, apply."""
        store = self._store()
        if not (store.lease and await store.keepalive()):
            await store.register(self.address, socket.gethostname())
        self.state, revision = await store.snapshot()
        local = {(nid, ep["EndpointID"]): (net, cid) for nid, net in self._local().items()
                 for cid, ep in net["Containers"].items()}
        mine = {tuple(path.split("/")) for path, info in self._entries("endpoints/").items()
                if info.get("node") == store.node}
        for nid, endpoint in set(local) - mine:
            net, cid = local[nid, endpoint]
            await store.publish(nid, endpoint, _endpoint_info(net, cid, self.address))
        for nid, endpoint in mine - set(local):
            await store.unpublish(nid, endpoint)
        for nid, ip, endpoint in await store.own_addresses():
            if (nid, endpoint) not in local:
                await store.release(nid, ip)
        self.state, revision = await store.snapshot()
        await self._apply()
        return revision

    async def _apply(self) -> None:
        """Converge the service's overlay records and the kernel on ``self.state``."""
        shared = self._entries("networks/")
        self._pending = {nid: made for nid, made in self._pending.items() if made != (nid in shared)}
        async with self.service._lock:
            local = self._local()
            for nid, record in shared.items():
                if nid not in local and nid not in self._pending:
                    net = {**record, "Containers": {}, "_endpoints": {}}
                    self.service._nets[nid] = net
                    await self.service._save(net)
            for nid, net in local.items():
                if nid not in shared and not net["Containers"] and nid not in self._pending:
                    await self.service._forget(net)
            for nid, net in self._local().items():
                net["Peers"] = self._peers(nid)
                if net["Containers"]:
                    wanted = {vxlan.Peer(e["ip"], e["mac"], e["host"]) for e in self._remote(nid)}
                    await asyncio.to_thread(vxlan.sync_peers, vni_of(net), wanted)
            keep = {vni_of(n) for n in self._local().values() if n["Containers"]}
            for vni in await asyncio.to_thread(vxlan.local_vnis) - keep:
                await asyncio.to_thread(vxlan.delete, vni)


def vni_of(net: dict[str, Any]) -> int:
    return int(net["Options"][VNI_OPTION])


def _shared(net: dict[str, Any]) -> dict[str, Any]:
    """The record every host sees: no host's containers in it."""
    return {k: v for k, v in net.items() if k not in ("Containers", "_endpoints", "Peers")}


def _endpoint_info(net: dict[str, Any], cid: str, host: str) -> dict[str, Any]:
    ep = net["Containers"][cid]
    return {"host": host, "ip": ep["IPv4Address"].split("/")[0], "mac": ep["MacAddress"],
            "name": ep["Name"].lstrip("/").lower(), "container": cid,
            "aliases": net["_endpoints"].get(cid, {}).get("aliases", [])}


def _node_id(path: str) -> str:
    """This host's ID in the cluster, made once and kept with the daemon's network state."""
    try:
        with open(path) as f:
            return f.read().strip()
    except FileNotFoundError:
        node = secrets.token_hex(16)
        os.makedirs(os.path.dirname(path), 0o711, exist_ok=True)
        with open(path, "w") as f:
            f.write(node)
        return node
