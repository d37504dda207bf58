"""Where the daemon keeps its state, and the knobs a test session changes.

One object, built by ``wharfd``'s argument parser and handed down to the
engine and domain modules, so that every path a test must isolate (data root,
exec root, socket, cgroup parent) comes from one place.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any


#: Runtimes known without ``--add-runtime``: wharf's own and the usual OCI binaries.
BUILTIN_RUNTIMES = ("wharf", "runc", "crun")


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
    #: dockerd's --tls (None: not given), --tlsverify, --tlscacert, --tlscert, --tlskey.
    tls_enabled: bool | None = None
    tls_verify: bool = False
    tls_ca: str = ""
    tls_cert: str = ""
    tls_key: str = ""
    #: The rest of dockerd's settings (``wharf.daemon.options`` maps each to its flag and
    #: daemon.json key); the reloadable ones are changed in place by SIGHUP, so read
    #: them from here when they are used, never copy them at start.
    config_file: str = ""
    pidfile: str = ""
    debug: bool = False
    labels: list[str] = field(default_factory=list)
    #: name → {"path"}: OCI runtimes besides wharf's own, runc and crun (``--add-runtime``).
    runtimes: dict[str, dict[str, str]] = field(default_factory=dict)
    #: overlay2 or vfs; "" until the image store settles it (``wharf.image.drivers``):
    #: then the data root's driver, as ``info`` shows it.
    storage_driver: str = ""
    #: MTU of the default bridge's container interfaces (0: the kernel's, 1500).
    mtu: int = 0
    #: ``[{"base": "10.10.0.0/16", "size": 24}]``: where networks' subnets come from ([] = built in).
    default_address_pools: list[dict[str, Any]] = field(default_factory=list)
    #: Host address of published ports that name none (``-p 8080:80``).
    ip: str = "0.0.0.0"
    ip_forward: bool = True
    #: False: wharf writes no firewall rules (no NAT, no published-port DNAT).
    iptables: bool = True
    ip_masq: bool = True
    userland_proxy: bool = True
    #: Resolver settings of containers that set none (``--dns``...).
    dns: list[str] = field(default_factory=list)
    dns_search: list[str] = field(default_factory=list)
    dns_opts: list[str] = field(default_factory=list)
    #: The LogConfig new containers get when they name no driver.
    log_driver: str = "json-file"
    log_opts: dict[str, str] = field(default_factory=dict)
    #: name → {"Name", "Soft", "Hard"}: rlimits of containers that do not set that one.
    default_ulimits: dict[str, dict[str, Any]] = field(default_factory=dict)
    default_shm_size: int = 64 * 1024 * 1024
    #: Containers keep running while the daemon is down (wharf's default; dockerd's is off).
    live_restore: bool = True
    #: Seconds containers get to stop at a shutdown without live restore (then SIGKILL).
    shutdown_timeout: int = 15
    #: Group owning the API's unix socket.
    group: str = "wharf"
    registry_mirrors: list[str] = field(default_factory=list)
    max_concurrent_downloads: int = 3
    max_concurrent_uploads: int = 5
    #: The CRI (``wharf.cri``) gRPC socket, ``unix:///path`` or a path ("" = no CRI).
    cri_socket: str = "unix:///run/wharf/cri.sock"
    #: The image of every pod's sandbox (infra) container, pulled when missing.
    pod_infra_image: str = "registry.k8s.io/pause:3.9"
    #: Per-registry settings, ``<dir>/<registry>/hosts.toml`` (containerd's; pull mirrors).
    certs_dir: str = "/etc/wharf/certs.d"
    #: CNI network configs of pods ("" or none there: pods on the default bridge network).
    cni_conf_dir: str = ""
    cni_bin_dir: str = "/usr/lib/cni"
    #: ``--rootless``: run by a user, inside a user namespace (``wharf.daemon.rootless``).
    rootless: bool = False
    #: The rootless parent's port API (a unix socket): published ports are bound on the
    #: host through it. "" = this daemon's own network namespace is the host's.
    port_driver: str = ""
    #: A rootless daemon's delegated cgroup v2 (``wharf.runtime.delegation``), from the
    #: hierarchy's root: its cgroup parent is made below it. "" = none: no cgroups.
    delegated_cgroup: str = ""
    #: The controllers enabled there for containers; limits of the others are dropped.
    delegated_controllers: tuple[str, ...] = ()

    @property
    def cgroup_driver(self) -> str:
        """``info``'s Cgroup Driver: "none" for a rootless daemon without a delegated
        cgroup v2, which cannot write the host's cgroups (Docker's rootless cgroupfs
        driver says the same); else "cgroupfs"."""
        return "none" if self.rootless and not self.delegated_cgroup else "cgroupfs"

    def runtime_path(self, name: str) -> str | None:
        """What the shim runs for runtime ``name``: "wharf" (its own), a binary, or None
        for a runtime nobody registered."""
        if name in BUILTIN_RUNTIMES:
            return name
        found = self.runtimes.get(name)
        return found["path"] if found else None

    @property
    def containers_dir(self) -> str:
        return os.path.join(self.data_root, "containers")

    @property
    def image_dir(self) -> str:
        return os.path.join(self.data_root, "image")

    @property
    def network_dir(self) -> str:
        return os.path.join(self.data_root, "network")

    @property
    def netns_dir(self) -> str:
        return os.path.join(self.exec_root, "netns")

    @property
    def bundles_dir(self) -> str:
        return os.path.join(self.exec_root, "containers")


def rootless_defaults() -> DaemonConfig:
    """A user's daemon, in the places dockerd-rootless.sh gives dockerd: state under
    ``$XDG_DATA_HOME`` (``~/.local/share``)/wharf, run-state and the socket under
    ``$XDG_RUNTIME_DIR``, settings under ``$XDG_CONFIG_HOME`` (``~/.config``)/wharf; no
    CRI (a kubelet is root's); the socket's group is the user's own (root's, inside its
    user namespace, where the host's groups are not mapped); no live restore (the next
    daemon is in new namespaces: it could not reach the old one's bridge). ValueError
    without ``XDG_RUNTIME_DIR``, as that script."""
    runtime = os.environ.get("XDG_RUNTIME_DIR")
    if not runtime:
        raise ValueError("XDG_RUNTIME_DIR needs to be set for rootless mode")
    home = os.path.expanduser("~")
    data = os.environ.get("XDG_DATA_HOME") or os.path.join(home, ".local", "share")
    return DaemonConfig(
        rootless=True, data_root=os.path.join(data, "wharf"),
        exec_root=os.path.join(runtime, "wharf"), hosts=[f"unix://{runtime}/wharf.sock"],
        pidfile=os.path.join(runtime, "wharf.pid"), cri_socket="", group="0", live_restore=False,
        certs_dir=os.path.join(config_home(), "wharf", "certs.d"))


def config_home() -> str:
    """``$XDG_CONFIG_HOME``, else ``~/.config``: where a rootless daemon's settings live."""
    return os.environ.get("XDG_CONFIG_HOME") or os.path.join(os.path.expanduser("~"), ".config")
