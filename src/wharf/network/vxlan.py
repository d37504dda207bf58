"""The kernel side of an overlay network on one host: a bridge and a VXLAN port.

Per VNI the host gets ``wov<VNI>`` (a Linux bridge, no address: containers
of the overlay plug their veths in) and ``wvx<VNI>`` (``vxlan id VNI dstport
4789 nolearning proxy local <advertise ip>``, a port of that bridge). Names
derive from the VNI, which the cluster store makes unique, so a restarted
daemon finds them again without state of its own, and two overlays never
clash. MTU 1450: the 50 bytes of VXLAN over IPv4 fit in the underlay's 1500.

No multicast and no flooding: learning is off, and every remote endpoint is
programmed from the cluster store as an FDB entry (its MAC lives behind that
host's underlay IP) and a permanent neighbour entry, which the VXLAN device
answers ARP requests from (``proxy``). ``sync_peers`` converges the kernel on
the wanted set, so it is both the incremental update and the repair.

Blocking: the engine runs these through ``asyncio.to_thread``.
"""

from __future__ import annotations

import json
import subprocess
from dataclasses import dataclass

from pyroute2 import IPRoute

from wharf.errors import WharfError

VXLAN_PORT = 4789
#: 1500 of the underlay minus the outer IPv4 (20), UDP (8), VXLAN (8) and Ethernet (14) headers.
MTU = 1450


@dataclass(frozen=True, order=True)
class Peer:
    """A remote endpoint: its overlay address and MAC, behind host ``host`` (underlay IP)."""

    ip: str
    mac: str
    host: str


def bridge_name(vni: int) -> str:
    return f"wov{vni}"


def vxlan_name(vni: int) -> str:
    return f"wvx{vni}"


def exists(vni: int) -> bool:
    with IPRoute() as ipr:
        return bool(ipr.link_lookup(ifname=vxlan_name(vni)))


def ensure(vni: int, local: str) -> None:
    """Make the bridge and the VXLAN port of ``vni`` exist and be up (idempotent)."""
    with IPRoute() as ipr:
        if not ipr.link_lookup(ifname=bridge_name(vni)):
            ipr.link("add", ifname=bridge_name(vni), kind="bridge")
        br = ipr.link_lookup(ifname=bridge_name(vni))[0]
        ipr.link("set", index=br, mtu=MTU, state="up")
        if not ipr.link_lookup(ifname=vxlan_name(vni)):
            ipr.link("add", ifname=vxlan_name(vni), kind="vxlan", vxlan_id=vni,
                     vxlan_port=VXLAN_PORT, vxlan_learning=0, vxlan_proxy=1, vxlan_local=local)
        vx = ipr.link_lookup(ifname=vxlan_name(vni))[0]
        ipr.link("set", index=vx, mtu=MTU, master=br, state="up")


def delete(vni: int) -> None:
    """Remove both devices (the kernel drops their FDB and neighbour entries); absent is fine."""
    with IPRoute() as ipr:
        for name in (vxlan_name(vni), bridge_name(vni)):
            for idx in ipr.link_lookup(ifname=name):
                ipr.link("del", index=idx)


def local_vnis() -> set[int]:
    """VNIs whose VXLAN device exists here (for pruning after a crash)."""
    with IPRoute() as ipr:
        names = [link.get("IFLA_IFNAME") or "" for link in ipr.get_links()]
    return {int(n[3:]) for n in names if n.startswith("wvx") and n[3:].isdigit()}


def peers(vni: int) -> set[Peer]:
    """What the kernel has programmed for ``vni``: neighbours joined with FDB entries."""
    dev = vxlan_name(vni)
    neigh = {n["lladdr"]: n["dst"] for n in _json(["ip", "-j", "-4", "neigh", "show", "dev", dev])
             if "lladdr" in n and "PERMANENT" in n.get("state", [])}
    return {Peer(neigh[f["mac"]], f["mac"], f["dst"])
            for f in _json(["bridge", "-j", "fdb", "show", "dev", dev])
            if f.get("dst") and f.get("mac") in neigh}


def sync_peers(vni: int, wanted: set[Peer]) -> None:
    """Converge ``vni``'s FDB and neighbour entries on ``wanted`` (stale ones removed)."""
    dev = vxlan_name(vni)
    have = peers(vni)
    ip_cmds, fdb_cmds = [], []
    for p in sorted(have - wanted):
        ip_cmds.append(f"neigh del {p.ip} dev {dev}")
        fdb_cmds.append(f"fdb del {p.mac} dev {dev} dst {p.host} self")
    for p in sorted(wanted - have):
        ip_cmds.append(f"neigh replace {p.ip} lladdr {p.mac} dev {dev} nud permanent")
        fdb_cmds.append(f"fdb append {p.mac} dev {dev} dst {p.host} self permanent")
    # -force: carry on past an entry that vanished meanwhile; the next sync repairs.
    _batch(["bridge", "-force", "-batch", "-"], fdb_cmds)
    _batch(["ip", "-force", "-batch", "-"], ip_cmds)


def _json(cmd: list[str]) -> list[dict]:
    out = subprocess.run(cmd, capture_output=True, text=True)
    if out.returncode != 0:
        raise WharfError(f"{' '.join(cmd)}: {out.stderr.strip()}")
    return json.loads(out.stdout or "[]")


def _batch(cmd: list[str], lines: list[str]) -> None:
    if lines:
        subprocess.run(cmd, input="\n".join(lines) + "\n", capture_output=True, text=True)
