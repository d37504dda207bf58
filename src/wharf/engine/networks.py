"""NetworkService: Docker's network objects over ``wharf.network``'s kernel pieces.

State: one JSON record per network under ``{data_root}/network/networks/``
(Docker's inspect shape; endpoints of running containers under
``Containers``, their aliases under the private ``_endpoints``) and the IPAM
leases in ``ipam.json``. A container's network namespace is made by the
engine before its process exists (``{exec_root}/netns/<id>``, bind-mounted),
so the veth, address, routes and the embedded DNS listener are there when
the command starts. Userland proxies and DNS servers live on the daemon's
loop: ``restore_container`` remakes them after a restart, ``reconcile``
drops what a ``kill -9`` left behind (endpoints, veths, namespaces, leases)
and rebuilds the nftables table.
"""

from __future__ import annotations

import asyncio
import logging
import os
import secrets
import time
from dataclasses import replace
from ipaddress import ip_address, ip_network
from typing import Any

from wharf.config import DaemonConfig
from wharf.engine import etcfiles
from wharf.engine import filters as flt
from wharf.engine import links as legacy_links
from wharf.engine.container import Container
from wharf.engine.events import EventBus
from wharf.engine.validate import check_types
from wharf.fsutil import disk_full, read_json, write_json_atomic
from wharf.engine.timefmt import parse_rfc3339, rfc3339nano
from wharf.errors import Conflict, Forbidden, InvalidParameter, NotFound
from wharf.network import etcfiles as etctext
from wharf.network import netns, ports

log = logging.getLogger("wharf.engine.networks")

PREDEFINED = {"bridge": "bridge", "host": "host", "none": "null"}
LIST_FILTERS = ("dangling", "driver", "id", "label", "name", "scope", "type")
_PRIVATE = "_endpoints"


class NetworkService:
    def __init__(self, config: DaemonConfig, events: EventBus) -> None:
        from wharf.network.bridge import BridgeDriver
        from wharf.network.firewall import Firewall

        self.config = config
        self.events = events
        self.driver = BridgeDriver()
        self.firewall = Firewall(config.firewall_table, config.ip_forward)
        self._dir = os.path.join(config.network_dir, "networks")
        self._ipam_path = os.path.join(config.network_dir, "ipam.json")
        self._ipam_state: dict[str, Any] = {}
        self._nets: dict[str, dict[str, Any]] = {}
        self._proxies: dict[str, list[Any]] = {}
        self._dns: dict[str, Any] = {}
        self._lock = asyncio.Lock()
        self._leaving: set[asyncio.Future[None]] = set()
        self.overlay = None
        if config.cluster_store:  # overlay networks: wharf.network.overlay over etcd
            from wharf.network.overlay import OverlayDriver
            self.overlay = OverlayDriver(config.cluster_store, config.cluster_advertise,
                                         os.path.join(config.network_dir, "cluster-node"), self)

    # -- records -----------------------------------------------------------
    def get(self, ref: str) -> dict[str, Any]:
        """By full ID, exact name, or unique ID prefix (Docker's order)."""
        if ref in self._nets:
            return self._nets[ref]
        for net in self._nets.values():
            if net["Name"] == ref:
                return net
        found = [n for nid, n in self._nets.items() if ref and nid.startswith(ref)]
        if len(found) == 1:
            return found[0]
        if len(found) > 1:
            raise InvalidParameter(f"network {ref} is ambiguous ({len(found)} matches found "
                                   "based on ID prefix)")
        raise NotFound(f"network {ref} not found")

    def _write_pools(self) -> None:
        """ipam.json: every network's pool; leases are left out (see ``_save``)."""
        write_json_atomic(self._ipam_path, {nid: {**pool, "allocated": []}
                                            for nid, pool in self._ipam_state.items()})

    async def _save(self, net: dict[str, Any]) -> None:
        """The network's definition and pool, durably. Its endpoints and leases are the
        running containers': each container's record holds them (``NetworkSettings``)
        and ``restore_container`` rebuilds them at start, so a container's start or exit
        writes no network file, whatever the number of containers on the network."""
        def save() -> None:
            write_json_atomic(os.path.join(self._dir, net["Id"] + ".json"),
                              {**net, "Containers": {}, _PRIVATE: {}}, 0o644)
            self._write_pools()
        await asyncio.to_thread(save)

    def _ipam(self, routed: list[Any] = ()) -> Any:
        """A view over the leases (``routed``: the host's routes, for a new pool)."""
        from wharf.network.ipam import DEFAULT_POOLS, Ipam, PoolBase
        if routed:  # only a new pool reads them: the other calls skip parsing every subnet
            mine = {ip_network(e["subnet"]) for e in self._ipam_state.values()}
            routed = [r for r in routed if r not in mine]
        pools = [PoolBase(p["base"], p["size"]) for p in self.config.default_address_pools]
        return Ipam(self._ipam_state, routed, pools or DEFAULT_POOLS)

    @staticmethod
    def public(net: dict[str, Any]) -> dict[str, Any]:
        """Docker's inspect shape (private bookkeeping dropped)."""
        return {k: v for k, v in net.items() if k != _PRIVATE}

    # -- boot ----------------------------------------------------------------
    async def start(self) -> None:
        """Read the records, make the predefined networks, bring every bridge up."""
        await asyncio.to_thread(os.makedirs, self._dir, 0o711, True)
        self._ipam_state = await asyncio.to_thread(read_json, self._ipam_path) or {}
        for name in await asyncio.to_thread(os.listdir, self._dir):
            net = await asyncio.to_thread(read_json, os.path.join(self._dir, name))
            if net and name.endswith(".json"):
                self._nets[net["Id"]] = net
        for key in [k for k in self._ipam_state if _network_of(k) not in self._nets]:
            del self._ipam_state[key]  # a removal on a full disk could not save the pools
        for net in self._nets.values():  # restore_container brings back the running ones'
            net["Containers"], net[_PRIVATE] = {}, {}
        for pool in self._ipam_state.values():
            pool["allocated"] = []
        names = {n["Name"]: n for n in self._nets.values()}
        for name, driver in PREDEFINED.items():
            if name == "bridge" and self.config.bridge_name == "none":  # -b none: none at all
                if name in names:
                    await asyncio.to_thread(self.driver.delete_network,
                                            self._bridge(names[name]).bridge)
                    await self._forget(names[name])
                continue
            if name not in names:
                bip = self.config.bip
                await self._make(name, driver, options=self._default_bridge_options()
                                 if name == "bridge" else {},
                                 configs=[{"Subnet": str(ip_network(bip, strict=False)),
                                           "Gateway": bip.partition("/")[0]}] if bip else [])
            elif name == "bridge":  # dockerd makes it from its settings at every start
                names[name]["Options"].update(self._default_bridge_options())
        for net in self._nets.values():
            if net["Driver"] == "bridge":
                await asyncio.to_thread(self.driver.create_network, self._bridge(net))

    def _default_bridge_options(self) -> dict[str, str]:
        """The default bridge's options, from the daemon's settings (``--mtu``, ``--ip``,
        ``--ip-masq``), as dockerd shows them."""
        return {"com.docker.network.bridge.default_bridge": "true",
                "com.docker.network.bridge.enable_icc": "true",
                "com.docker.network.bridge.enable_ip_masquerade": str(self.config.ip_masq).lower(),
                "com.docker.network.bridge.host_binding_ipv4": self.config.ip,
                "com.docker.network.bridge.name": self.config.bridge_name,
                "com.docker.network.driver.mtu": str(self.config.mtu or 1500)}

    async def reconcile(self, running: set[str]) -> None:
        """After the containers' restore: drop endpoints, veths, namespaces and leases of
        containers that are not running any more, then rebuild the firewall table."""
        for net in self._nets.values():
            for cid in [c for c in net["Containers"] if c not in running]:
                self._drop_endpoint(net, cid)
            if net["Driver"] in ("bridge", "overlay"):  # overlay veths: on the VNI bridge
                await asyncio.to_thread(self.driver.prune, self._bridge(net).bridge,
                                        {e["EndpointID"] for e in net["Containers"].values()})
        nsdir = self.config.netns_dir
        for name in await asyncio.to_thread(lambda: os.listdir(nsdir) if os.path.isdir(nsdir) else []):
            if name not in running:
                await asyncio.to_thread(netns.destroy, os.path.join(nsdir, name))
        await self._apply_firewall()
        if self.overlay is not None:  # republishes the running containers' endpoints
            await self.overlay.start()

    async def close(self) -> None:
        """Clean shutdown: stop proxies and DNS servers (containers keep running); the
        table goes when nothing needs it."""
        await asyncio.gather(*self._leaving, return_exceptions=True)
        if self.overlay is not None:
            await self.overlay.close()
        for cid in list(self._proxies):
            self._stop_services(cid)
        bridges = [n for n in self._nets.values() if n["Driver"] == "bridge"]
        if not any(n["Containers"] for n in bridges):  # start() makes them again
            for net in bridges:
                await asyncio.to_thread(self.driver.delete_network, self._bridge(net).bridge)
            await asyncio.to_thread(self.firewall.remove)

    # -- networks ------------------------------------------------------------
    async def _make(self, name: str, driver: str, options: dict[str, str] | None = None,
                    labels: dict[str, str] | None = None, internal: bool = False,
                    attachable: bool = False, configs: list[dict[str, Any]] = (),
                    ipv6: bool = False, ipam_options: dict[str, str] | None = None) -> dict[str, Any]:
        """``configs``: the request's ``IPAM.Config`` (at most one IPv4 and one IPv6 entry);
        the IPv6 one gets a pool only with ``ipv6`` (``EnableIPv6``), as in dockerd."""
        nid = secrets.token_hex(32)
        v4, v6 = _split_configs(configs)
        ipam_config = []
        if driver == "bridge":
            from wharf.network.bridge import routed_subnets
            # read now, not at boot: other engines (and sibling test daemons) add bridges
            routed = await asyncio.to_thread(routed_subnets)
            ipam = self._ipam(routed)
            ipam_config = [_create_pool(ipam, nid, v4)]
            if ipv6 and v6 is None:
                ipam.release_pool(nid)
                raise Forbidden("could not find an available, non-overlapping IPv6 address pool "
                                "among the defaults to assign to the network")
            if ipv6:
                try:
                    ipam_config.append(_create_pool(ipam, _pool6(nid), v6))
                except BaseException:
                    ipam.release_pool(nid)
                    raise
            elif v6 is not None:
                ipam_config.append(_as_given(v6))
        net = {"Name": name, "Id": nid, "Created": rfc3339nano(time.time_ns()), "Scope": "local",
               "Driver": driver, "EnableIPv6": ipv6,
               "IPAM": {"Driver": "default", "Options": ipam_options, "Config": ipam_config},
               "Internal": internal, "Attachable": attachable, "Ingress": False,
               "ConfigFrom": {"Network": ""}, "ConfigOnly": False, "Containers": {},
               "Options": options or {}, "Labels": labels or {}, _PRIVATE: {}}
        self._nets[nid] = net
        try:
            await self._save(net)
        except BaseException:  # a full disk: no network half made
            await self._forget(net)
            raise
        return net

    def _bridge(self, net: dict[str, Any]) -> Any:
        from wharf.network.bridge import BridgeNetwork, bridge_name
        if net["Driver"] == "overlay":
            return self.overlay.bridge_network(net)
        ipam = self._ipam()
        pool = ipam.pool(net["Id"])
        pool6 = ipam.pool(_pool6(net["Id"])) if ipam.has_pool(_pool6(net["Id"])) else None
        mtu = int(net["Options"].get("com.docker.network.driver.mtu") or 0)
        return BridgeNetwork(bridge_name(net["Id"], net["Options"]), pool.subnet, pool.gateway,
                             net["Internal"], mtu, pool6 and pool6.subnet, pool6 and pool6.gateway)

    async def create(self, body: dict[str, Any]) -> dict[str, Any]:
        """``POST /networks/create``."""
        _check_create_types(body)
        name = body.get("Name") or ""
        if not name:
            raise InvalidParameter("network name must not be empty")
        driver = body.get("Driver") or "bridge"
        if driver == "overlay" and self.overlay is None:
            from wharf.network.overlay import NO_STORE
            raise Forbidden(NO_STORE)
        if driver not in ("bridge", "overlay"):
            raise NotFound(f"plugin \"{driver}\" not found") if driver not in PREDEFINED.values() \
                else Forbidden(f"only one instance of \"{driver}\" network is allowed")
        async with self._lock:
            if any(n["Name"] == name for n in self._nets.values()):
                raise Conflict(f"network with name {name} already exists")
            ipam = body.get("IPAM") or {}
            configs = ipam.get("Config") or []
            cfg = _split_configs(configs)[0] or {}
            options = dict(body.get("Options") or {})
            net = await self._make(name, driver, options, dict(body.get("Labels") or {}),
                                   bool(body.get("Internal")), bool(body.get("Attachable")),
                                   configs, bool(body.get("EnableIPv6")), ipam.get("Options"))
            try:
                if driver == "overlay":
                    await self.overlay.create(net, cfg)
                    await self._save(net)
                else:
                    await asyncio.to_thread(self.driver.create_network, self._bridge(net))
                    await self._apply_firewall()
            except BaseException:
                await self._forget(net)
                raise
        self.events.publish("network", "create", net["Id"], {"name": name, "type": driver})
        return {"Id": net["Id"], "Warning": ""}

    async def _forget(self, net: dict[str, Any]) -> None:
        """Drop the record, then the leases: a removal needs no free space (leases of a
        network with no record are dropped at start should the disk refuse them now)."""
        self._ipam().release_pool(net["Id"])
        self._ipam().release_pool(_pool6(net["Id"]))
        del self._nets[net["Id"]]
        await asyncio.to_thread(_unlink, os.path.join(self._dir, net["Id"] + ".json"))
        try:
            await asyncio.to_thread(self._write_pools)
        except OSError as e:
            if not disk_full(e):
                raise
            log.warning("network %s: pools not saved: %s", net["Name"], os.strerror(e.errno))

    async def remove(self, ref: str) -> None:
        net = self.get(ref)
        if net["Name"] in PREDEFINED and net["Driver"] == PREDEFINED[net["Name"]]:
            raise Forbidden(f"{net['Name']} is a pre-defined network and cannot be removed")
        async with self._lock:
            if net["Containers"]:
                raise Forbidden(f"error while removing network: network {net['Name']} id "
                                f"{net['Id']} has active endpoints")
            if net["Driver"] == "overlay":
                await self.overlay.remove(net)
            else:
                await asyncio.to_thread(self.driver.delete_network, self._bridge(net).bridge)
            await self._forget(net)
            await self._apply_firewall()
        self.events.publish("network", "destroy", net["Id"],
                            {"name": net["Name"], "type": net["Driver"]})

    async def prune(self, filters: flt.Filters | None = None) -> dict[str, Any]:
        """``docker network prune``: unused networks, by ``label``/``label!`` and
        ``until`` (made before that time)."""
        f = filters or {}
        until = flt.until_ns(f)
        deleted = []
        for net in await self.list():
            if net["Name"] in PREDEFINED or net["Containers"] or \
                    not flt.prune_labels(net["Labels"] or {}, f) or \
                    until is not None and parse_rfc3339(net["Created"]) > until:
                continue
            await self.remove(net["Id"])
            deleted.append(net["Name"])
        return {"NetworksDeleted": deleted or None}

    async def list(self, filters: flt.Filters | None = None) -> list[dict[str, Any]]:
        f = filters or {}
        for key in f:
            if key not in LIST_FILTERS:
                raise InvalidParameter(f"Invalid filter '{key}'")
        out = []
        for net in sorted(self._nets.values(), key=lambda n: n["Created"]):
            builtin = net["Name"] in PREDEFINED
            if f.get("name") and not any(v in net["Name"] for v in f["name"]):
                continue
            if f.get("id") and not any(net["Id"].startswith(v) for v in f["id"]):
                continue
            if not flt.match_any(net["Driver"], f.get("driver")):
                continue
            if not flt.match_any(net["Scope"], f.get("scope")):
                continue
            if f.get("type") and ("builtin" if builtin else "custom") not in f["type"]:
                continue
            if "label" in f and not flt.match_labels(net["Labels"], f["label"]):
                continue
            if f.get("dangling") and (f["dangling"][0] in ("1", "true")) == (
                    builtin or bool(net["Containers"])):
                continue
            out.append(self.public(net))
        return out

    # -- containers ----------------------------------------------------------------
    def default_network(self) -> str:
        """What NetworkMode "default" means: the default bridge, or "none" with
        ``-b none`` (dockerd's DisableBridge)."""
        return "none" if self.config.bridge_name == "none" else "bridge"

    def endpoint_settings(self, hc: dict[str, Any], networking: dict[str, Any] | None
                          ) -> dict[str, Any]:
        """A new container's ``NetworkSettings.Networks`` (validates the networks exist)."""
        mode = hc.get("NetworkMode") or "default"
        if mode.startswith("container:"):
            return {}
        wanted = dict((networking or {}).get("EndpointsConfig") or {})
        primary = self.get(self.default_network() if mode == "default" else mode)
        configs = [wanted.pop(key, None) for key in {mode, primary["Name"], primary["Id"]}]
        out = {primary["Name"]: _endpoint_config(primary, next(filter(None, configs), None))}
        for ref, cfg in wanted.items():
            net = self.get(ref)
            out[net["Name"]] = _endpoint_config(net, cfg)
        return out

    def netns_join(self, c: Container) -> dict[str, str]:
        """spec.build's request for the network namespace the engine will make."""
        mode = c.host_config.get("NetworkMode") or "default"
        if mode == "host" or mode.startswith("container:"):
            return {}
        return {"network": self._netns_path(c.id)}

    def _netns_path(self, cid: str) -> str:
        return os.path.join(self.config.netns_dir, cid)

    async def make_sandbox(self, c: Container) -> None:
        """At start, before the process exists: the namespace it will join (with lo up).
        Independent of the rootfs, so it is made while that is mounted."""
        if not self.netns_join(c):
            return
        path = self._netns_path(c.id)
        await asyncio.to_thread(netns.create, path)
        settings = c.record["NetworkSettings"]
        settings["SandboxKey"] = path
        settings["SandboxID"] = c.id

    async def attach(self, c: Container) -> None:
        """Endpoints, ports and DNS in the sandbox (then ``write_etc``): while the runtime
        sets the container up, which waits at its start gate until these are done."""
        if not self.netns_join(c):
            return
        settings = c.record["NetworkSettings"]
        async with self._lock:
            joined = 0
            for name in list(settings["Networks"]):
                net = self.get(settings["Networks"][name].get("NetworkID") or name)
                if net["Driver"] in ("bridge", "overlay"):
                    # a new sandbox: its interfaces are eth0, eth1... in this order
                    await self._join(c, net, ifname=f"eth{joined}")
                    joined += 1
            await self._publish(c)
            if self._proxies.get(c.id):
                await self._apply_firewall()
        await self._start_dns(c)

    async def write_etc(self, c: Container) -> None:
        """/etc/hosts and /etc/resolv.conf with the addresses ``attach`` gave the container
        (over the bundle's defaults, so after them)."""
        if self.netns_join(c):
            await asyncio.to_thread(self._write_etc, c)

    async def _join(self, c: Container, net: dict[str, Any], ifname: str | None = None) -> None:
        """``ifname``: the container-side name (by default the first free ethN)."""
        ep = c.record["NetworkSettings"]["Networks"][net["Name"]]
        requested = (ep.get("IPAMConfig") or {}).get("IPv4Address") or None
        endpoint_id = secrets.token_hex(32)
        overlay = self.overlay if net["Driver"] == "overlay" else None
        if overlay is not None:
            address = await overlay.allocate(net, endpoint_id, requested)
        else:
            address = self._ipam().allocate(net["Id"], requested)
        bridge = self._bridge(net)
        mac = ep.get("MacAddress") or c.config.get("MacAddress") or None
        address6 = None
        try:
            address6 = self._allocate6(net, bridge, ep)
            link_local = [ip_address(a) for a in (ep.get("IPAMConfig") or {}).get("LinkLocalIPs") or []]
            joined = await asyncio.to_thread(self.driver.join, bridge, endpoint_id, address,
                                             self._netns_path(c.id), mac, ifname, True, address6,
                                             link_local)
        except BaseException:
            if overlay is not None:
                await overlay.release(net, address)
            else:
                self._ipam().release(net["Id"], address)
            if address6 is not None:
                self._ipam().release(_pool6(net["Id"]), address6)
            raise
        v6 = _v6_settings(bridge, address6)
        ep.update(NetworkID=net["Id"], EndpointID=endpoint_id, Gateway=str(bridge.gateway),
                  IPAddress=str(address), IPPrefixLen=bridge.subnet.prefixlen,
                  MacAddress=joined.mac, **v6)
        self._add_endpoint(net, c, ep)
        if net["Name"] == "bridge" and net["Driver"] == "bridge":
            settings = c.record["NetworkSettings"]
            settings.update(Bridge=bridge.bridge, EndpointID=endpoint_id,
                            Gateway=str(bridge.gateway), IPAddress=str(address),
                            IPPrefixLen=bridge.subnet.prefixlen, MacAddress=joined.mac, **v6)
        if overlay is not None:
            await overlay.joined(net, c.id)
        self.events.publish("network", "connect", net["Id"],
                            {"container": c.id, "name": net["Name"], "type": net["Driver"]})

    def _allocate6(self, net: dict[str, Any], bridge: Any, ep: dict[str, Any]) -> Any:
        """The endpoint's IPv6 address (``--ip6``, else the next free), None when the
        network has no IPv6."""
        requested = (ep.get("IPAMConfig") or {}).get("IPv6Address") or None
        if bridge.subnet6 is None:
            if requested:
                raise InvalidParameter(f"invalid IPv6 address {requested}: network {net['Name']} "
                                       "has IPv6 disabled")
            return None
        return self._ipam().allocate(_pool6(net["Id"]), requested)

    @staticmethod
    def _add_endpoint(net: dict[str, Any], c: Container, ep: dict[str, Any]) -> None:
        """``network inspect``'s entry and the DNS names of ``c``'s endpoint ``ep`` (its
        record's ``NetworkSettings.Networks`` entry, once joined)."""
        net["Containers"][c.id] = {"Name": c.name, "EndpointID": ep["EndpointID"],
                                   "MacAddress": ep["MacAddress"],
                                   "IPv4Address": f"{ep['IPAddress']}/{ep['IPPrefixLen']}",
                                   "IPv6Address": f"{ep['GlobalIPv6Address']}/{ep['GlobalIPv6PrefixLen']}"
                                   if ep.get("GlobalIPv6Address") else ""}
        net[_PRIVATE][c.id] = {"aliases": [a.lower() for a in ep.get("Aliases") or []]
                               + [c.id[:12]] * (net["Name"] != "bridge"),
                               "links": (c.host_config.get("Links") or [])
                               + (ep.get("Links") or [])}

    def _primary_address(self, c: Container, field: str = "IPAddress") -> str | None:
        """The first of the container's endpoints' ``field`` that is set."""
        for ep in c.record["NetworkSettings"]["Networks"].values():
            if ep.get(field):
                return ep[field]
        return None

    async def _publish(self, c: Container) -> None:
        """Userland proxies (which reserve the host ports) for PortBindings and -P."""
        from wharf.network import portproxy
        hc = c.host_config
        address = self._primary_address(c)
        wanted = ports.from_port_bindings(hc.get("PortBindings"))
        if hc.get("PublishAllPorts"):
            bound = {b.key for b in wanted}
            wanted += [b for key in (c.config.get("ExposedPorts") or {}) if key not in bound
                       for b in ports.from_port_bindings({key: [{}]})]
        published: dict[str, Any] = {key: None for key in c.config.get("ExposedPorts") or {}}
        proxies = self._proxies.setdefault(c.id, [])
        if address is None:
            c.record["NetworkSettings"]["Ports"] = published
            return
        for binding in wanted:
            if not binding.host_ip and self.config.ip != "0.0.0.0":  # dockerd's --ip
                binding = replace(binding, host_ip=self.config.ip)
            proxy = await portproxy.publish(binding, address, self.config.userland_proxy,
                                            self.config.port_driver)
            proxies.append(proxy)
            published.setdefault(binding.key, None)
            published[binding.key] = (published[binding.key] or []) + [
                {"HostIp": binding.host_ip or "0.0.0.0", "HostPort": str(proxy.binding.host_port)}]
        c.record["NetworkSettings"]["Ports"] = published

    def _user_defined(self, c: Container) -> list[dict[str, Any]]:
        return [n for n in self._nets.values() if c.id in n["Containers"]
                and n["Name"] != "bridge"]

    def _resolv(self, c: Container) -> Any:
        hc = c.host_config
        return etctext.resolv_conf(etcfiles.host_resolv(), *etcfiles.resolver(hc, self.config),
                                   embedded=bool(self._user_defined(c)))

    async def _start_dns(self, c: Container) -> None:
        if c.id in self._dns or not self._user_defined(c):
            return
        from wharf.network.dns import DnsServer
        resolv = await asyncio.to_thread(self._resolv, c)
        server = DnsServer(lambda name: self.resolve(c.id, name),
                           [(ip, 53) for ip in resolv.upstreams])
        await server.start(target=self._netns_path(c.id))
        self._dns[c.id] = server

    def resolve(self, cid: str, name: str) -> list[Any] | None:
        """Names on the container's user-defined networks: names, aliases, links."""
        name = name.rstrip(".").lower()
        found = []
        for net in self._nets.values():
            if cid not in net["Containers"] or net["Name"] == "bridge":
                continue
            links = {}
            for link in net[_PRIVATE].get(cid, {}).get("links", []):
                target, alias = legacy_links.parse(link)
                links[alias.lower()] = target.lower()
            name_here = links.get(name, name)
            for other, ep in net["Containers"].items():
                names = {ep["Name"].lstrip("/").lower(), *net[_PRIVATE].get(other, {}).get(
                    "aliases", [])}
                if name_here in names:
                    found += [ip_address(ep[f].split("/")[0]) for f in ("IPv4Address", "IPv6Address") if ep[f]]
            if net["Driver"] == "overlay":  # containers of other hosts
                found += self.overlay.resolve(net, name_here)
        return found or None

    def _extra_hosts(self, c: Container) -> list[str]:
        """``--add-host`` (``host-gateway`` = the default bridge's gateway) and, on the
        default bridge, ``--link`` targets as hosts entries (Docker's legacy links)."""
        bridge = next((n for n in self._nets.values() if n["Name"] == "bridge"), None)
        if bridge is None:  # -b none: no gateway, no legacy links
            return list(c.host_config.get("ExtraHosts") or [])
        gateway = self._bridge(bridge).gateway
        out = [entry.replace(":host-gateway", f":{gateway}")
               for entry in c.host_config.get("ExtraHosts") or []]
        if c.id in bridge["Containers"]:
            by_name = {ep["Name"].lstrip("/"): ep["IPv4Address"].split("/")[0]
                       for ep in bridge["Containers"].values()}
            for link in c.host_config.get("Links") or []:
                target, alias = legacy_links.parse(link)
                if target in by_name:
                    out += [f"{name}:{by_name[target]}" for name in {alias, target}]
        return out

    def renamed(self, c: Container) -> None:
        """Keep the endpoints' names (``network inspect``, the embedded DNS) current."""
        for net in self._nets.values():
            if c.id in net["Containers"]:
                net["Containers"][c.id]["Name"] = c.name

    def _write_etc(self, c: Container) -> None:
        cfg = c.config
        hc = {**c.host_config, "ExtraHosts": self._extra_hosts(c)}
        files = etcfiles.contents(cfg["Hostname"], hc, self.config, cfg.get("Domainname") or "",
                                  self._primary_address(c),
                                  self._primary_address(c, "GlobalIPv6Address"))
        files["/etc/resolv.conf"] = ("resolv.conf", self._resolv(c).text)
        for name, text in (files["/etc/hosts"], files["/etc/resolv.conf"]):
            # In place, as Docker's: the container may have them bind-mounted already (a
            # start behind its gate, a connect while running), and a new inode would not show.
            with open(os.path.join(c.dir, name), "w") as f:
                f.write(text)

    async def restore_container(self, c: Container) -> None:
        """After a daemon restart, for a running container: its endpoints and leases
        from its record, then proxies and DNS again."""
        for ep in c.record["NetworkSettings"]["Networks"].values():
            net = self._nets.get(ep.get("NetworkID") or "")
            if net is None or not ep.get("EndpointID") or not ep.get("IPAddress"):
                continue
            self._add_endpoint(net, c, ep)
            if net["Id"] in self._ipam_state:  # an overlay's addresses are the cluster's
                self._ipam().reserve(net["Id"], ep["IPAddress"])
            if ep.get("GlobalIPv6Address") and _pool6(net["Id"]) in self._ipam_state:
                self._ipam().reserve(_pool6(net["Id"]), ep["GlobalIPv6Address"])
        if not self.netns_join(c):
            return
        hc = c.host_config
        fixed = dict(hc)
        fixed["PortBindings"] = c.record["NetworkSettings"].get("Ports") or {}
        fixed["PublishAllPorts"] = False
        try:
            await self._publish(_with_host_config(c, fixed))
            await self._start_dns(c)
        except Exception:
            log.exception("restoring the network services of %s", c.id)

    async def detach(self, c: Container) -> None:
        """After the exit or a failed start: undo ``attach`` (idempotent)."""
        published = bool(self._proxies.get(c.id))
        self._stop_services(c.id)
        settings = c.record["NetworkSettings"]
        left = []
        async with self._lock:
            for net in self._nets.values():
                if c.id in net["Containers"]:
                    ep = self._drop_endpoint(net, c.id)
                    left.append(ep["EndpointID"])
                    await self._left(net, ep)
                    self.events.publish("network", "disconnect", net["Id"],
                                        {"container": c.id, "name": net["Name"],
                                         "type": net["Driver"]})
            if published:
                await self._apply_firewall()
        for ep in settings["Networks"].values():
            ep.update(EndpointID="", Gateway="", IPAddress="", IPPrefixLen=0, MacAddress="",
                      **_v6_settings(None, None))
        settings.update(Bridge="", SandboxID="", SandboxKey="", EndpointID="", Gateway="",
                        IPAddress="", IPPrefixLen=0, MacAddress="", Ports={}, **_v6_settings(None, None))
        await asyncio.to_thread(netns.destroy, self._netns_path(c.id))
        if left:
            self._leave_later(left)

    def _leave_later(self, endpoint_ids: list[str]) -> None:
        """Delete the host veths off the exit path: deleting a link waits for RCU grace
        periods (10-20 ms here), and the kernel takes the pairs down with the namespace
        anyway unless another container still shares it (``--network container:``).
        Their addresses are free already; ``close`` waits for these, ``reconcile``
        prunes what a kill -9 interrupted."""
        def leave() -> None:
            for endpoint_id in endpoint_ids:
                self.driver.leave(endpoint_id)
        task = asyncio.ensure_future(asyncio.to_thread(leave))
        self._leaving.add(task)
        task.add_done_callback(self._leaving.discard)

    def _drop_endpoint(self, net: dict[str, Any], cid: str) -> dict[str, Any]:
        ep = net["Containers"].pop(cid)
        net[_PRIVATE].pop(cid, None)
        if net["Id"] in self._ipam_state:
            self._ipam().release(net["Id"], ep["IPv4Address"].split("/")[0])
        if ep["IPv6Address"] and _pool6(net["Id"]) in self._ipam_state:
            self._ipam().release(_pool6(net["Id"]), ep["IPv6Address"].split("/")[0])
        return ep

    async def _left(self, net: dict[str, Any], ep: dict[str, Any]) -> None:
        """An overlay endpoint is withdrawn from the cluster (its address freed there)."""
        if net["Driver"] == "overlay":
            await self.overlay.left(net, ep)

    def _stop_services(self, cid: str) -> None:
        for proxy in self._proxies.pop(cid, []):
            proxy.close()
        server = self._dns.pop(cid, None)
        if server is not None:
            server.close()

    async def _apply_firewall(self) -> None:
        from wharf.network.firewall import FwNetwork, FwPort
        bridges = [n for n in self._nets.values() if n["Driver"] == "bridge"]
        if not self.config.iptables:  # --iptables=false: no rules of ours at all
            await asyncio.to_thread(self.firewall.remove)
            return
        fw_nets = [FwNetwork(b.bridge, b.subnet, b.internal, n["Options"].get(
                       "com.docker.network.bridge.enable_ip_masquerade", "true") == "true", b.subnet6)
                   for n, b in ((n, self._bridge(n)) for n in bridges)]
        fw_ports = []
        for net in bridges:
            for cid, ep in net["Containers"].items():
                for proxy in self._proxies.get(cid, []):
                    if proxy.target[0] == ep["IPv4Address"].split("/")[0]:
                        b = proxy.binding
                        fw_ports.append(FwPort(b.proto, b.host_port, ip_address(proxy.target[0]),
                                               b.container_port, b.host_ip))
        await asyncio.to_thread(self.firewall.apply, fw_nets, fw_ports)

    # -- connect / disconnect ------------------------------------------------------
    async def connect(self, ref: str, c: Container, config: dict[str, Any] | None) -> None:
        net = self.get(ref)
        if net["Driver"] not in ("bridge", "overlay"):
            raise Forbidden("container cannot be disconnected from host network or connected "
                            "to host network")
        mode = c.host_config.get("NetworkMode") or ""
        if mode == "host" or mode == "none" or mode.startswith("container:"):
            raise Forbidden("container sharing network namespace with another container or "
                            "host cannot be connected to any other network")
        async with c.lock:
            networks = c.record["NetworkSettings"]["Networks"]
            if net["Name"] in networks:
                raise Forbidden(f"endpoint with name {c.name} already exists in network "
                                f"{net['Name']}")
            networks[net["Name"]] = _endpoint_config(net, config)
            if c.running:
                try:
                    async with self._lock:
                        await self._join(c, net)
                    await self._start_dns(c)
                except BaseException:
                    del networks[net["Name"]]
                    raise
                await asyncio.to_thread(self._write_etc, c)  # its /etc/hosts names the address
            await asyncio.to_thread(write_json_atomic, c.record_path, c.record)

    async def disconnect(self, ref: str, c: Container, force: bool = False) -> None:
        net = self.get(ref)
        async with c.lock:
            networks = c.record["NetworkSettings"]["Networks"]
            if net["Name"] not in networks and not (force and c.id in net["Containers"]):
                raise Forbidden(f"container {c.id} is not connected to network {net['Name']}")
            async with self._lock:
                if c.id in net["Containers"]:
                    await asyncio.to_thread(self.driver.leave,
                                            net["Containers"][c.id]["EndpointID"])
                    await self._left(net, self._drop_endpoint(net, c.id))
                    await self._apply_firewall()
            networks.pop(net["Name"], None)
            await asyncio.to_thread(write_json_atomic, c.record_path, c.record)
        self.events.publish("network", "disconnect", net["Id"],
                            {"container": c.id, "name": net["Name"], "type": net["Driver"]})


def _endpoint_config(net: dict[str, Any], cfg: dict[str, Any] | None) -> dict[str, Any]:
    cfg = cfg or {}
    ipam = cfg.get("IPAMConfig") or None
    if ipam and (ipam.get("IPv4Address") or ipam.get("IPv6Address")) and net["Name"] == "bridge":
        raise InvalidParameter("user specified IP address is supported on user defined "
                               "networks only")
    _check_endpoint_addresses(ipam or {})
    return {"IPAMConfig": ipam, "Links": cfg.get("Links"), "Aliases": cfg.get("Aliases"),
            "NetworkID": net["Id"], "EndpointID": "", "Gateway": "", "IPAddress": "",
            "IPPrefixLen": 0, "IPv6Gateway": "", "GlobalIPv6Address": "",
            "GlobalIPv6PrefixLen": 0, "MacAddress": cfg.get("MacAddress") or "",
            "DriverOpts": cfg.get("DriverOpts")}


def _check_endpoint_addresses(ipam: dict[str, Any]) -> None:
    """dockerd's checks of an endpoint's ``IPAMConfig`` addresses, at create and connect."""
    wanted = [(ipam.get("IPv4Address"), 4, "IPv4 address"), (ipam.get("IPv6Address"), 6, "IPv6 address"),
              *((a, None, "link-local IP address") for a in ipam.get("LinkLocalIPs") or [])]
    for text, version, what in wanted:
        if not text and version:
            continue
        try:
            ip = ip_address(text)
            valid = not ip.is_unspecified and version in (None, ip.version)
        except ValueError:
            valid = False
        if not valid:
            raise InvalidParameter(f"invalid {what}: {text}")


#: ``NetworkCreateRequest``'s fields and their JSON types (dockerd decodes into Go structs)
_CREATE_TYPES: dict[str, type] = {
    "Name": str, "CheckDuplicate": bool, "Driver": str, "Scope": str, "EnableIPv6": bool,
    "IPAM": dict, "Internal": bool, "Attachable": bool, "Ingress": bool, "ConfigOnly": bool,
    "Options": dict, "Labels": dict}
_IPAM_TYPES: dict[str, type] = {"Driver": str, "Config": list, "Options": dict}
_IPAM_CONFIG_TYPES: dict[str, type] = {"Subnet": str, "IPRange": str, "Gateway": str,
                                       "AuxiliaryAddresses": dict}


def _check_create_types(body: dict[str, Any]) -> None:
    """A wrong JSON type is dockerd's 400 (``json: cannot unmarshal ...``), never a 500."""
    check_types(body, _CREATE_TYPES, "NetworkCreateRequest")
    ipam = body.get("IPAM") or {}
    check_types(ipam, _IPAM_TYPES, "NetworkCreateRequest.IPAM")
    string_maps = [("NetworkCreateRequest", "Options", body.get("Options")),
                   ("NetworkCreateRequest", "Labels", body.get("Labels")),
                   ("NetworkCreateRequest.IPAM", "Options", ipam.get("Options"))]
    for cfg in ipam.get("Config") or []:
        check_types({"Config": cfg}, {"Config": dict}, "NetworkCreateRequest.IPAM")
        check_types(cfg, _IPAM_CONFIG_TYPES, "IPAMConfig")
        string_maps.append(("IPAMConfig", "AuxiliaryAddresses", cfg.get("AuxiliaryAddresses")))
    for struct, key, mapping in string_maps:  # map[string]string: each value a string
        for value in (mapping or {}).values():
            check_types({key: value}, {key: str}, struct)


def _pool6(nid: str) -> str:
    """The IPAM key of a network's IPv6 pool (its IPv4 pool's is the network ID)."""
    return nid + "/v6"


def _network_of(pool_key: str) -> str:
    return pool_key.partition("/")[0]


def _split_configs(configs: list[dict[str, Any]]) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
    """``IPAM.Config`` as its IPv4 and IPv6 entries (an entry without a subnet is IPv4's)."""
    v4, v6 = [], []
    for cfg in configs:
        try:
            version = ip_network(cfg.get("Subnet") or "0.0.0.0/0", strict=False).version
        except ValueError:
            raise InvalidParameter(f"invalid subnet: {cfg.get('Subnet')}") from None
        (v6 if version == 6 else v4).append(cfg)
    if len(v4) > 1 or len(v6) > 1:
        raise InvalidParameter("wharf supports one IPv4 and one IPv6 subnet per network")
    return (v4 or [None])[0], (v6 or [None])[0]


def _create_pool(ipam: Any, key: str, cfg: dict[str, Any] | None) -> dict[str, Any]:
    """Reserve the pool ``cfg`` asks for; returns its ``IPAM.Config`` entry as dockerd shows
    it: the request's own fields when it named a subnet (no gateway unless given), else
    the automatic pool's subnet and gateway."""
    cfg = cfg or {}
    pool = ipam.create_pool(key, cfg.get("Subnet") or None, cfg.get("Gateway") or None,
                            cfg.get("IPRange") or None, cfg.get("AuxiliaryAddresses") or None)
    return _as_given(cfg) if cfg.get("Subnet") else pool.to_docker()


def _as_given(cfg: dict[str, Any]) -> dict[str, Any]:
    return {k: cfg[k] for k in ("Subnet", "IPRange", "Gateway", "AuxiliaryAddresses") if cfg.get(k)}


def _v6_settings(bridge: Any, address6: Any) -> dict[str, Any]:
    """An endpoint's IPv6 fields of ``NetworkSettings`` (empty without an address)."""
    if address6 is None:
        return {"GlobalIPv6Address": "", "GlobalIPv6PrefixLen": 0, "IPv6Gateway": ""}
    return {"GlobalIPv6Address": str(address6), "GlobalIPv6PrefixLen": bridge.subnet6.prefixlen,
            "IPv6Gateway": str(bridge.gateway6)}


def _with_host_config(c: Container, hc: dict[str, Any]) -> Container:
    """The container seen with another HostConfig (restore republishes what was bound)."""
    record = dict(c.record)
    record["HostConfig"] = hc
    return Container(record, c.dir)


def _unlink(path: str) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass
