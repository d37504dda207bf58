"""The bridge driver: a Linux bridge per network, a veth pair per endpoint.

Every operation converges on a wanted state rather than replaying steps, so a
daemon that restarts (or was killed half-way) can call it again: creating an
existing bridge fixes its address and state, deleting a missing one is a
no-op, and interface names are derived from the IDs the engine stores
(``br-<network id[:12]>``, ``veth<endpoint id[:11]>``) so they are found again
without any state of the driver's own.

Blocking netlink work: the engine calls it through ``asyncio.to_thread``.
"""

from __future__ import annotations

import errno
import os
import socket
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network, ip_network

from pyroute2 import IPRoute
from pyroute2.netlink.exceptions import NetlinkError

from wharf.errors import Conflict, InvalidParameter
from wharf.linux import rtnl, syscalls
from wharf.network import netns

#: Docker's option naming the bridge interface of a network.
BRIDGE_NAME_OPTION = "com.docker.network.bridge.name"
_IFNAMSIZ = 15


@dataclass(frozen=True)
class BridgeNetwork:
    """What the driver needs to know about a network."""

    bridge: str
    subnet: IPv4Network
    gateway: IPv4Address
    internal: bool = False
    mtu: int = 0
    #: ``--ipv6``: the network's IPv6 subnet and the bridge's address in it
    subnet6: IPv6Network | None = None
    gateway6: IPv6Address | None = None


@dataclass(frozen=True)
class Endpoint:
    """One container's attachment: the answers ``network inspect`` shows."""

    endpoint_id: str
    address: IPv4Address
    mac: str
    host_ifname: str
    container_ifname: str


def bridge_name(network_id: str, options: dict[str, str] | None = None) -> str:
    """``-o com.docker.network.bridge.name=x`` or ``br-<12 hex of the id>``."""
    name = (options or {}).get(BRIDGE_NAME_OPTION) or f"br-{network_id[:12]}"
    if len(name) > _IFNAMSIZ or "/" in name or not name.strip():
        raise InvalidParameter(f"invalid bridge name: {name!r}")
    return name


def host_ifname(endpoint_id: str) -> str:
    """The host end of an endpoint's veth pair, found again from the ID alone."""
    return f"veth{endpoint_id[:11]}"


def mac_for(address: IPv4Address) -> str:
    """Docker's MAC for an IP: 02:42 then the four address bytes (02:42:ac:11:00:02)."""
    return ":".join(f"{b:02x}" for b in (0x02, 0x42, *address.packed))


def routed_subnets() -> list[IPv4Network]:
    """Destinations of the host's IPv4 routes (the default route excluded), for IPAM."""
    with IPRoute() as ipr:
        routes = ipr.get_routes(family=socket.AF_INET, table=254)
    return [ip_network(f"{r.get('RTA_DST')}/{r['dst_len']}", strict=False)
            for r in routes if r["dst_len"] > 0]


class BridgeDriver:
    """Creates and removes bridges and endpoints in the daemon's namespace."""

    def create_network(self, net: BridgeNetwork) -> None:
        """Make ``net.bridge`` exist with exactly the gateway address, up."""
        with IPRoute() as ipr:
            idx = _index(ipr, net.bridge)
            if idx is None:
                ipr.link("add", ifname=net.bridge, kind="bridge")
                idx = _index(ipr, net.bridge)
            elif _kind(ipr, idx) != "bridge":
                raise Conflict(f"interface {net.bridge} exists and is not a bridge")
            want = (str(net.gateway), net.subnet.prefixlen)
            for addr in ipr.get_addr(family=socket.AF_INET, index=idx):
                have = (addr.get("IFA_ADDRESS"), addr["prefixlen"])
                if have != want:
                    ipr.addr("del", index=idx, address=have[0], prefixlen=have[1])
            _ignore_exists(lambda: ipr.addr("add", index=idx, address=want[0],
                                            prefixlen=want[1]))
            if net.gateway6 is not None and net.subnet6 is not None:
                _enable_ipv6(net.bridge)
                _ignore_exists(lambda: ipr.addr("add", index=idx, address=str(net.gateway6),
                                                prefixlen=net.subnet6.prefixlen, flags=_IFA_F_NODAD))
            if net.mtu:
                ipr.link("set", index=idx, mtu=net.mtu)
            ipr.link("set", index=idx, state="up")

    def delete_network(self, bridge: str) -> None:
        """Remove the bridge (its ports are detached by the kernel); absent is fine."""
        with IPRoute() as ipr:
            idx = _index(ipr, bridge)
            if idx is not None:
                _ignore_missing(lambda: ipr.link("del", index=idx))

    def join(self, net: BridgeNetwork, endpoint_id: str, address: IPv4Address,
             target: int | str, mac: str | None = None, ifname: str | None = None,
             default_route: bool = True, address6: IPv6Address | None = None,
             link_local: list[IPv4Address | IPv6Address] = ()) -> Endpoint:
        """Attach the container whose netns is ``target`` (pid or path) to ``net``.

        The container side becomes ``ifname`` (default: the first free
        ``ethN``) with ``address`` (and ``address6`` on an IPv6 network, and
        the ``link_local`` ones: /16, /64 for IPv6, as Docker's) and ``mac``;
        the default routes go via the gateways unless the network is
        internal, the caller says no, or the container already has one (lo is
        the namespace maker's: netns.create brings it up). A half-made
        earlier attempt of the same endpoint is replaced.
        """
        mac = mac or mac_for(address)
        host = host_ifname(endpoint_id)
        for attempt in (1, 2):
            try:
                ifname = self._join(net, host, address, target, mac, ifname, default_route)
                if address6 is not None or link_local:
                    netns.call_in(target, lambda: _add_addresses(ifname, net, address6, link_local,
                                                                 default_route and not net.internal))
                break
            except BaseException as e:
                self.leave(endpoint_id)  # no half-made endpoint outlives a failed join
                if attempt == 2 or not (isinstance(e, OSError) and e.errno == errno.EEXIST):
                    raise
        return Endpoint(endpoint_id, address, mac, host, ifname)

    def _join(self, net: BridgeNetwork, host: str, address: IPv4Address, target: int | str,
              mac: str, ifname: str | None, default_route: bool) -> str:
        """The veth by one netlink request from here (``wharf.linux.rtnl``: through
        pyroute2 it cost 2-3 ms of CPU); the container's side set up from inside its
        namespace by ioctls (pyroute2 decoding whole link dumps there was a third
        of the daemon's CPU time per start)."""
        ifname = ifname or netns.call_in(target, _free_eth)
        try:
            bridge_idx = socket.if_nametoindex(net.bridge)
        except OSError:
            raise Conflict(f"bridge {net.bridge} of the network does not exist") from None
        fd = os.open(netns.netns_path(target), os.O_RDONLY | os.O_CLOEXEC)
        try:  # one request: our end up on the bridge, theirs with its MAC
            rtnl.add_veth(host, ifname, fd, mac, bridge_idx, net.mtu)
        finally:
            os.close(fd)
        _set_hairpin(host)
        route = default_route and not net.internal

        def inside() -> None:
            syscalls.interface_set_ipv4(ifname, address.packed, net.subnet.netmask.packed)
            syscalls.interface_up(ifname)  # lo is up since netns.create
            if route and not _has_default_route():
                syscalls.add_default_route(net.gateway.packed)
        netns.call_in(target, inside)
        return ifname

    def leave(self, endpoint_id: str) -> None:
        """Delete the endpoint's host veth; its peer in the container goes with it."""
        try:
            rtnl.delete_link(host_ifname(endpoint_id))
        except OSError as e:
            if e.errno not in (errno.ENODEV, errno.ENOENT):
                raise

    def prune(self, bridge: str, keep: set[str]) -> list[str]:
        """Delete the veth ports of ``bridge`` not belonging to an endpoint in ``keep``.

        At start the engine passes the endpoints it still has, so a leave that a
        ``kill -9`` interrupted leaves nothing behind. Returns what was deleted.
        """
        wanted = {host_ifname(e) for e in keep}
        removed = []
        with IPRoute() as ipr:
            master = _index(ipr, bridge)
            if master is None:
                return []
            for link in ipr.get_links(master=master):
                name = link.get("IFLA_IFNAME")
                if name not in wanted and _kind(ipr, link["index"]) == "veth":
                    _ignore_missing(lambda: ipr.link("del", index=link["index"]))
                    removed.append(name)
        return removed

    def endpoint_exists(self, endpoint_id: str) -> bool:
        """Whether the host end is still there (after a daemon restart)."""
        with IPRoute() as ipr:
            return _index(ipr, host_ifname(endpoint_id)) is not None


def _index(ipr: IPRoute, ifname: str) -> int | None:
    """The link's index, asked of the kernel by name (``link_lookup`` dumps every link)."""
    try:
        return ipr.link("get", ifname=ifname)[0]["index"]
    except NetlinkError as e:
        if e.code in (errno.ENODEV, errno.ENOENT):
            return None
        raise


def _kind(ipr: IPRoute, idx: int) -> str | None:
    """The link's kind; None for one gone since it was listed (a container's exit)."""
    try:
        link = ipr.get_links(idx)[0]
    except NetlinkError as e:
        if e.code in (errno.ENODEV, errno.ENOENT):
            return None
        raise
    info = link.get("IFLA_LINKINFO")
    return info.get("IFLA_INFO_KIND") if info else None


def _free_eth() -> str:
    """The first ``ethN`` not taken in the calling thread's namespace."""
    names = {name for _, name in socket.if_nameindex()}
    return next(f"eth{n}" for n in range(len(names) + 1) if f"eth{n}" not in names)


def _has_default_route() -> bool:
    """Whether the calling thread's namespace has an IPv4 default route (thread-self:
    /proc/self/net is the namespace of the process's main thread)."""
    with open("/proc/thread-self/net/route") as f:
        rows = [line.split() for line in f.readlines()[1:]]  # Iface Destination ... Mask ...
    return any(row[1] == "00000000" and row[7] == "00000000" for row in rows)


_IFA_F_NODAD = 0x02  # no duplicate address detection: the address is usable at once, as Docker's


def _enable_ipv6(ifname: str) -> None:
    """IPv6 on ``ifname`` whatever the host's default (in the calling thread's namespace:
    /proc/sys/net is the namespace of the thread that opens it)."""
    with open(f"/proc/sys/net/ipv6/conf/{ifname}/disable_ipv6", "w") as f:
        f.write("0")


def _add_addresses(ifname: str, net: BridgeNetwork, address6: IPv6Address | None,
                   link_local: list[IPv4Address | IPv6Address], route: bool) -> None:
    """In the container's namespace: ``address6`` and ``link_local`` on ``ifname`` and,
    with ``route``, the default IPv6 route via the bridge's address (netlink: no
    ioctl sets NODAD)."""
    wanted = [(ip, 16 if ip.version == 4 else 64) for ip in link_local]
    if address6 is not None:
        assert net.subnet6 is not None
        wanted.insert(0, (address6, net.subnet6.prefixlen))
    if any(ip.version == 6 for ip, _ in wanted):
        _enable_ipv6(ifname)
    with IPRoute() as ipr:
        idx = ipr.link("get", ifname=ifname)[0]["index"]
        for ip, prefixlen in wanted:
            ipr.addr("add", index=idx, address=str(ip), prefixlen=prefixlen,
                     **({"flags": _IFA_F_NODAD} if ip.version == 6 else {}))
        if address6 is None or not route:
            return
        if not any(r["dst_len"] == 0 for r in ipr.get_routes(family=socket.AF_INET6, table=254)):
            ipr.route("add", family=socket.AF_INET6, dst="::", dst_len=0,
                      gateway=str(net.gateway6), oif=idx)


def _set_hairpin(port: str) -> None:
    """Let a container reach itself through a published port (the packet goes back out its port)."""
    with open(f"/sys/class/net/{port}/brport/hairpin_mode", "w") as f:
        f.write("1")


def _ignore_exists(call) -> None:
    try:
        call()
    except NetlinkError as e:
        if e.code != errno.EEXIST:
            raise


def _ignore_missing(call) -> None:
    try:
        call()
    except NetlinkError as e:
        if e.code not in (errno.ENODEV, errno.ENOENT):
            raise
