"""The per-container /etc/hostname, /etc/hosts and /etc/resolv.conf.

Docker writes them in the container's directory and bind-mounts them, so the
image's own files are shadowed and ``docker cp``/commit never see them.
Loopback nameservers of the host are useless inside a network namespace and
are dropped (Docker falls back to Google's DNS when none are left); with
``--network host`` the container shares the host's view and gets its file as is.
"""

from __future__ import annotations

import os
import re


HOST_RESOLV = "/etc/resolv.conf"
FALLBACK_NAMESERVERS = ("8.8.8.8", "8.8.4.4")
_LOOPBACK_NS = re.compile(r"^\s*nameserver\s+(127\.\S+|::1)\s*$")


def hosts_content(hostname: str, extra_hosts: list[str] | None = None) -> str:
    lines = ["127.0.0.1\tlocalhost", "::1\tlocalhost ip6-localhost ip6-loopback",
             "fe00::0\tip6-localnet", "ff00::0\tip6-mcastprefix", "ff02::1\tip6-allnodes",
             "ff02::2\tip6-allrouters"]
    for entry in extra_hosts or []:
        name, _, addr = entry.partition(":")
        lines.append(f"{addr}\t{name}")
    lines.append(f"127.0.1.1\t{hostname}")
    return "\n".join(lines) + "\n"


def resolv_content(host_resolv: str, host_network: bool, dns: list[str] | None = None,
                   search: list[str] | None = None, options: list[str] | None = None) -> str:
    """The container's resolv.conf from the host's and the --dns* options."""
    if host_network and not (dns or search or options):
        return host_resolv
    kept = [line for line in host_resolv.splitlines() if not _LOOPBACK_NS.match(line)]
    if dns:
        kept = [line for line in kept if not line.strip().startswith("nameserver")]
        kept += [f"nameserver {ns}" for ns in dns]
    if search:
        kept = [line for line in kept if not line.strip().startswith(("search", "domain"))]
        kept.append("search " + " ".join(search))
    if options:
        kept = [line for line in kept if not line.strip().startswith("options")]
        kept.append("options " + " ".join(options))
    if not any(line.strip().startswith("nameserver") for line in kept):
        kept += [f"nameserver {ns}" for ns in FALLBACK_NAMESERVERS]
    return "\n".join(kept) + "\n"


def _write_text(path: str, text: str) -> None:
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        f.write(text)
    os.chmod(tmp, 0o644)
    os.rename(tmp, path)


def write_all(directory: str, hostname: str, host_config: dict) -> dict[str, str]:
    """Write the three files for a start; returns {container path: host path}."""
    host_net = host_config.get("NetworkMode") == "host"
    try:
        with open(HOST_RESOLV) as f:
            host_resolv = f.read()
    except OSError:
        host_resolv = ""
    files = {
        "/etc/hostname": ("hostname", hostname + "\n"),
        "/etc/hosts": ("hosts", hosts_content(hostname, host_config.get("ExtraHosts"))),
        "/etc/resolv.conf": ("resolv.conf", resolv_content(
            host_resolv, host_net, host_config.get("Dns"), host_config.get("DnsSearch"),
            host_config.get("DnsOptions"))),
    }
    out = {}
    for target, (name, text) in files.items():
        path = os.path.join(directory, name)
        _write_text(path, text)
        out[target] = path
    return out
