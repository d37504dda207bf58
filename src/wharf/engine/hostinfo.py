"""Facts about the host that ``/info`` and ``/version`` report, read once."""

from __future__ import annotations

import functools
import os
import platform

from wharf.linux import syscalls

GO_ARCH = {"x86_64": "amd64", "aarch64": "arm64", "armv7l": "arm", "i686": "386",
           "ppc64le": "ppc64le", "s390x": "s390x"}


@functools.cache
def operating_system() -> tuple[str, str]:
    """(PRETTY_NAME, VERSION_ID) from os-release, as dockerd reports them."""
    fields: dict[str, str] = {}
    for path in ("/etc/os-release", "/usr/lib/os-release"):
        try:
            with open(path) as f:
                for line in f:
                    key, sep, value = line.strip().partition("=")
                    if sep:
                        fields[key] = value.strip('"')
            break
        except OSError:
            continue
    return fields.get("PRETTY_NAME", "Linux"), fields.get("VERSION_ID", "")


@functools.cache
def mem_total() -> int:
    """Bytes of RAM (MemTotal in /proc/meminfo is in KiB)."""
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) * 1024
    return 0


def cgroup_version() -> str:
    """"2" on a unified hierarchy (cgroup.controllers at the root), else "1"."""
    return "2" if os.path.exists("/sys/fs/cgroup/cgroup.controllers") else "1"


def no_cgroups_warning() -> str:
    """dockerd's words for a rootless daemon without cgroups (``info``, and its log at start)."""
    if cgroup_version() == "2":
        return ("WARNING: Running in rootless-mode without cgroups. Systemd is required to "
                "enable cgroups in rootless-mode.")
    return ("WARNING: Running in rootless-mode without cgroups. To enable cgroups in "
            "rootless-mode, you need to boot the system in cgroup v2 mode.")


def kernel_version() -> str:
    return os.uname().release


def go_arch() -> str:
    machine = platform.machine()
    return GO_ARCH.get(machine, machine)


def architecture() -> str:
    return platform.machine()


def ip_forwarding() -> bool:
    """``net.ipv4.ip_forward`` now (``info``'s IPv4Forwarding; ``--ip-forward`` sets it)."""
    try:
        with open("/proc/sys/net/ipv4/ip_forward") as f:
            return f.read().strip() == "1"
    except OSError:
        return False


@functools.cache
def recursive_read_only_mounts() -> bool:
    """Whether a bind can be made read-only with its submounts (mount_setattr, 5.12+):
    what a ``ReadOnlyForceRecursive`` bind needs."""
    return syscalls.has_mount_setattr()
