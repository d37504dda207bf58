"""Writing a container's /etc/hostname, /etc/hosts and /etc/resolv.conf.

The text comes from ``wharf.network.etcfiles`` (Docker's rules); this module
writes the files in the container's directory, from where the bundle
bind-mounts them, so the image's own files are shadowed and never changed.
With ``--network host`` the container sees the host's files, as under Docker.
"""

from __future__ import annotations

import os
from typing import Any

from wharf.config import DaemonConfig
from wharf.fsutil import write_atomic
from wharf.network import etcfiles as text

HOST_RESOLV = "/etc/resolv.conf"
HOST_HOSTS = "/etc/hosts"
#: The container's own name resolves here until it has an address on a network.
SELF_ADDRESS = "127.0.1.1"


def _read(path: str) -> str:
    try:
        with open(path) as f:
            return f.read()
    except OSError:
        return ""


def host_resolv() -> str:
    """The host's /etc/resolv.conf ("" when unreadable): the base of a container's."""
    return _read(HOST_RESOLV)


def resolver(host_config: dict[str, Any], daemon: DaemonConfig) -> tuple[list[str], ...]:
    """(Dns, DnsSearch, DnsOptions): each the container's, or the daemon's (``--dns``,
    ``--dns-search``, ``--dns-opt``) where the container sets none, as dockerd."""
    return (host_config.get("Dns") or daemon.dns, host_config.get("DnsSearch") or daemon.dns_search,
            host_config.get("DnsOptions") or daemon.dns_opts)


def contents(hostname: str, host_config: dict[str, Any], daemon: DaemonConfig,
             domainname: str = "", address: str | None = None,
             address6: str | None = None) -> dict[str, tuple[str, str]]:
    """{target in the container: (file name, text)}."""
    resolv_base = host_resolv()
    if host_config.get("NetworkMode") == "host":
        hosts, resolv = _read(HOST_HOSTS) or text.DEFAULT_HOSTS, resolv_base
    else:
        hosts = text.hosts_file(hostname, address or SELF_ADDRESS,
                                host_config.get("ExtraHosts") or [], domainname, address6)
        resolv = text.resolv_conf(resolv_base, *resolver(host_config, daemon)).text
    return {"/etc/hostname": ("hostname", hostname + "\n"), "/etc/hosts": ("hosts", hosts),
            "/etc/resolv.conf": ("resolv.conf", resolv)}


def write_all(directory: str, hostname: str, host_config: dict[str, Any], daemon: DaemonConfig,
              domainname: str = "") -> dict[str, str]:
    """Write the three files for a start; returns {container path: host path}."""
    out = {}
    for target, (name, content) in contents(hostname, host_config, daemon, domainname).items():
        path = os.path.join(directory, name)
        write_atomic(path, content.encode(), 0o644, durable=False)  # rewritten at every start
        out[target] = path
    return out
