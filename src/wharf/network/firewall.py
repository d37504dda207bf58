"""wharf's nftables table: masquerade, isolation, published ports.

All rules live in one table of wharf's own (``ip <prefix>``), so they never
disturb the host's and removing it is one delete. The table is declarative:
``apply`` is given the whole wanted state (every bridge network and every
published port, which the engine already stores) and replaces the table in
one atomic ``nft -f`` transaction. Restart, repair after a ``kill -9`` and
incremental changes are all the same call; no rule is ever left half-made.

Why the ``nft`` binary: Debian's python3-nftables is only a ctypes shim over
the same libnftables, packaged for the system Python rather than the venv;
one ``nft -f -`` per change costs a few ms and keeps the ruleset readable.

What the table does, per network (``FwNetwork``) and port (``FwPort``):

* ``postrouting``: masquerade the subnet out of any other interface (not for
  ``--internal``); masquerade hairpin traffic (DNATed from the subnet back
  into its own bridge: a container to a port published on its network;
  postrouting has no input interface, hence the source match) and
  loopback-sourced traffic DNATed from the host's 127.0.0.1 (with
  ``route_localnet`` on the bridge).
* ``prerouting``/``output``: DNAT ``host_ip:host_port`` (any local address
  when ``host_ip`` is empty) to the container, for outside and local clients.
* ``forward``: internal networks reach nothing but themselves; traffic
  between two wharf bridges is dropped unless it is a published port.

The table's comment keeps ``net.ipv4.ip_forward``'s value from before the
first ``apply`` so ``remove`` restores it, even from another daemon run.

Networks with IPv6 (``subnet6``) get the same masquerade, internal and
isolation rules in an ``ip6`` table of the same name, made and deleted with
the ``ip`` one (none while no network has IPv6). wharf leaves
``net.ipv6.conf.all.forwarding`` alone: turning it on makes the host stop
accepting router advertisements (dockerd turns it on; here the host's admin
does, for IPv6 traffic to leave the host). Within a bridge, and between a
container and its gateway, IPv6 needs no forwarding.
"""

from __future__ import annotations

import re
import subprocess
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv4Network, IPv6Network

from wharf.errors import InvalidParameter, WharfError

_FORWARD = "/proc/sys/net/ipv4/ip_forward"
_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,31}$")
_IFNAME = re.compile(r"^[A-Za-z0-9_.:-]{1,15}$")
_SAVED = re.compile(r'^\s*comment "ip_forward=([01])"', re.M)


@dataclass(frozen=True)
class FwNetwork:
    bridge: str
    subnet: IPv4Network
    internal: bool = False
    #: masquerade what leaves the host from the subnet (``--ip-masq``, enable_ip_masquerade)
    masquerade: bool = True
    #: the network's IPv6 subnet (``--ipv6``), None without
    subnet6: IPv6Network | None = None


@dataclass(frozen=True)
class FwPort:
    """A published port: ``host_ip`` "" means every local address."""

    proto: str
    host_port: int
    container_ip: IPv4Address
    container_port: int
    host_ip: str = ""


class Firewall:
    """The table named ``prefix`` (``wharf`` in production, ``wharf_test_x`` in tests)."""

    def __init__(self, prefix: str = "wharf", forward: bool = True) -> None:
        if not _NAME.match(prefix):
            raise InvalidParameter(f"invalid nftables table name: {prefix!r}")
        self.table = prefix
        #: turn ``net.ipv4.ip_forward`` on with the table (dockerd's ``--ip-forward``)
        self.forward = forward
        #: ip_forward as recorded in the table once this object has applied it (saves an
        #: ``nft list`` per change: every container start with published ports).
        self._known_saved: str | None = None

    def apply(self, networks: list[FwNetwork], ports: list[FwPort]) -> None:
        """Make the table exactly this ruleset (atomically), with forwarding on."""
        saved = self._known_saved or self._saved_forward()
        if saved is None:
            saved = _read(_FORWARD)
        v6 = any(n.subnet6 is not None for n in networks)
        _nft(f"table ip {self.table}\ndelete table ip {self.table}\n"
             f"table ip6 {self.table}\ndelete table ip6 {self.table}\n"
             + self.render(networks, ports, saved) + (self.render6(networks) if v6 else ""))
        for net in networks:
            _write(f"/proc/sys/net/ipv4/conf/{net.bridge}/route_localnet", "1")
        if self.forward:
            _write(_FORWARD, "1")
        self._known_saved = saved

    def remove(self) -> None:
        """Delete the table and put ``ip_forward`` back; absent is fine."""
        saved = self._saved_forward()
        if saved is None:
            return
        _nft(f"delete table ip {self.table}\ntable ip6 {self.table}\ndelete table ip6 {self.table}\n")
        _write(_FORWARD, saved)
        self._known_saved = None

    def exists(self) -> bool:
        return self._saved_forward() is not None

    def render(self, networks: list[FwNetwork], ports: list[FwPort], saved_forward: str) -> str:
        """The table as nft text (pure: the unit tests read it)."""
        post, forward_internal, forward_isolate = [], [], []
        for net in networks:
            masq, internal, isolate = _network_rules(net, f"ip saddr {net.subnet}")
            br = f'"{net.bridge}"'
            post += masq + [f"ip saddr {net.subnet} oifname {br} ct status dnat masquerade",
                            f"oifname {br} ip saddr 127.0.0.0/8 masquerade"]
            forward_internal += internal
            forward_isolate.append(isolate)
        publish = [_dnat(p) for p in ports]
        return "\n".join([
            f"table ip {self.table} {{",
            f'  comment "ip_forward={saved_forward}"',
            *_bridges_set(networks),
            _chain("prerouting", "nat hook prerouting priority -100",
                   ["fib daddr type local jump publish"]),
            _chain("output", "nat hook output priority -100",
                   ["fib daddr type local jump publish"]),
            _chain("publish", None, publish),
            _chain("postrouting", "nat hook postrouting priority 100", post),
            _chain("forward", "filter hook forward priority 0",
                   [*forward_internal, "ct state established,related accept",
                    "ct status dnat accept", *forward_isolate]),
            "}", ""])

    def render6(self, networks: list[FwNetwork]) -> str:
        """The ``ip6`` table: the ``ip`` table's masquerade, internal and isolation rules
        over the IPv6 subnets of the networks that have one (pure, as ``render``)."""
        post, forward_internal, forward_isolate = [], [], []
        for net in networks:
            masq, internal, isolate = _network_rules(net, f"ip6 saddr {net.subnet6}")
            if net.subnet6 is not None:
                post += masq
                forward_internal += internal
            forward_isolate.append(isolate)
        return "\n".join([
            f"table ip6 {self.table} {{",
            *_bridges_set(networks),
            _chain("postrouting", "nat hook postrouting priority 100", post),
            _chain("forward", "filter hook forward priority 0",
                   [*forward_internal, "ct state established,related accept", *forward_isolate]),
            "}", ""])

    def _saved_forward(self) -> str | None:
        """The recorded ip_forward, or None when the table does not exist."""
        out = subprocess.run(["nft", "list", "table", "ip", self.table],
                             capture_output=True, text=True)
        if out.returncode != 0:
            return None
        m = _SAVED.search(out.stdout)
        return m.group(1) if m else "1"


def _network_rules(net: FwNetwork, saddr: str) -> tuple[list[str], list[str], str]:
    """A network's masquerade (``saddr`` matches its subnet), its drops when internal, and
    its isolation from the other bridges: the same in the ``ip`` and ``ip6`` tables."""
    if not _IFNAME.match(net.bridge):
        raise InvalidParameter(f"invalid bridge name: {net.bridge!r}")
    br = f'"{net.bridge}"'
    internal = [f"iifname {br} oifname != {br} drop", f"oifname {br} iifname != {br} drop"]
    masq = [f"{saddr} oifname != {br} masquerade"] if net.masquerade and not net.internal else []
    return masq, internal if net.internal else [], f"iifname {br} oifname != {br} oifname @bridges drop"


def _bridges_set(networks: list[FwNetwork]) -> list[str]:
    elements = ", ".join(f'"{n.bridge}"' for n in networks)
    return ["  set bridges {", "    type ifname",
            *([f"    elements = {{ {elements} }}"] if networks else []), "  }"]


def _dnat(p: FwPort) -> str:
    if p.proto not in ("tcp", "udp", "sctp"):
        raise InvalidParameter(f"invalid proto: {p.proto}")
    try:
        match = f"ip daddr {IPv4Address(p.host_ip)} " if p.host_ip not in ("", "0.0.0.0") else ""
        target = IPv4Address(p.container_ip)
    except ValueError as e:
        raise InvalidParameter(f"cannot publish {p.host_ip}:{p.host_port}: {e}") from None
    return f"{match}{p.proto} dport {int(p.host_port)} dnat to {target}:{int(p.container_port)}"


def _chain(name: str, hook: str | None, rules: list[str]) -> str:
    head = [f"    type {hook}; policy accept;"] if hook else []
    return "\n".join([f"  chain {name} {{", *head, *(f"    {r}" for r in rules), "  }"])


def _nft(script: str) -> None:
    out = subprocess.run(["nft", "-f", "-"], input=script, capture_output=True, text=True)
    if out.returncode != 0:
        raise WharfError(f"nftables: {out.stderr.strip()}")


def _read(path: str) -> str:
    with open(path) as f:
        return f.read().strip()


def _write(path: str, value: str) -> None:
    with open(path, "w") as f:
        f.write(value)
