"""Where the daemon keeps its state, and the knobs a test session changes.

One object, built by ``wharfd``'s argument parser and handed down to the
engine and domain modules, so that every path a test must isolate (data root,
exec root, socket, cgroup parent) comes from one place.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any


@dataclass
class DaemonConfig:
    #: Persistent state: containers/, image/ (content store, layers), volumes/.
    data_root: str = "/var/lib/wharf"
    #: Runtime state that dies with a reboot: bundles, shim sockets, pid files.
    exec_root: str = "/run/wharf"
    #: API listeners, ``unix:///path`` or ``tcp://host:port``.
    hosts: list[str] = field(default_factory=lambda: ["unix:///run/wharf/wharf.sock"])
    #: Name of the cgroup (under each hierarchy's root) containers are placed in.
    cgroup_parent: str = "wharf"
    #: Default OCI runtime for new containers: "wharf" (in-process) or a binary name.
    default_runtime: str = "wharf"
    log_level: str = "info"
    #: Interface of the default ``bridge`` network (``-b``; not docker0, which dockerd may own).
    bridge_name: str = "wharf0"
    #: The default bridge's gateway and subnet (``--bip 10.9.0.1/24``); "" = first free pool.
    bip: str = ""
    #: wharf's own nftables table (``ip <name>``): tests use a private one.
    firewall_table: str = "wharf"
    #: Registries reached over plain HTTP (``--insecure-registry``); loopback always is.
    insecure_registries: list[str] = field(default_factory=list)
    #: ``etcd://host:port[,host:port][/root]``: the cluster store of overlay networks ("" = none).
    cluster_store: str = ""
    #: This host's underlay address for the cluster (an IPv4 address or an interface).
    cluster_advertise: str = ""
    #: dockerd's --tls/--tlsverify/--tlscacert/--tlscert/--tlskey (``wharf.daemon.listen.TLSOptions``).
    tls: Any = None
    #: docker.io pulls try these first, in order (``--registry-mirror``, as ``http(s)://host[:port]/``).
    registry_mirrors: list[str] = field(default_factory=list)

    @property
    def containers_dir(self) -> str:
        return os.path.join(self.data_root, "containers")

    @property
    def image_dir(self) -> str:
        return os.path.join(self.data_root, "image")

    @property
    def downloads_dir(self) -> str:
        """Layers being pulled; emptied at every start (a pull a restart cut short)."""
        return os.path.join(self.data_root, "distribution", "downloads")

    @property
    def network_dir(self) -> str:
        return os.path.join(self.data_root, "network")

    @property
    def netns_dir(self) -> str:
        return os.path.join(self.exec_root, "netns")

    @property
    def bundles_dir(self) -> str:
        return os.path.join(self.exec_root, "containers")
