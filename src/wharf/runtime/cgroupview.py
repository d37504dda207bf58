"""The container's own cgroup at /sys/fs/cgroup: the spec's ``cgroup`` mount.

The JVM, Go and .NET runtimes and ``nproc``-style tools read their memory and
CPU limits there, so, as under Docker, each hierarchy shows the container's
own cgroup directory at its root (``memory/memory.limit_in_bytes`` is the
``-m`` limit), read-only unless the mount says otherwise (``--privileged``).

* v1 (runc's ``mountCgroupV1``): a tmpfs holding one bind mount per hierarchy
  the container is placed in, named as on the host; a co-mounted hierarchy
  (``cpu,cpuacct``) also gets a symlink per controller, as the host has.
* v2: the container's directory of the unified tree bound at /sys/fs/cgroup,
  the view a cgroup namespace gives. A bind needs no cgroup namespace and
  does not depend on the process being in its cgroup yet (the runtime places
  it while the rootfs is built), only on the cgroup existing: the runtime
  creates it before it forks.

Runs in the container's mount namespace before pivot_root, so the sources
are the host's cgroup mounts.
"""

from __future__ import annotations

import os

from wharf.linux import syscalls as sc
from wharf.runtime import cgroups

_BIND_KEEP = sc.MS_RDONLY | sc.MS_NOSUID | sc.MS_NODEV | sc.MS_NOEXEC


def _bind(source: str, target: str, flags: int) -> None:
    sc.mount(source, target, None, sc.MS_BIND | sc.MS_REC)
    sc.mount(None, target, None, sc.MS_BIND | sc.MS_REMOUNT | (flags & _BIND_KEEP))


def v1_hierarchies(cg: cgroups.V1Cgroup) -> dict[str, tuple[str, list[str]]]:
    """{hierarchy dir name: (the container's directory in it, controllers that alias it)}."""
    out: dict[str, tuple[str, list[str]]] = {}
    for controller in cgroups.V1_CONTROLLERS:
        base = os.path.join(cg.root, controller)
        if not os.path.isdir(base):
            continue
        name = os.path.basename(os.path.realpath(base))  # "cpu" -> "cpu,cpuacct"
        _, aliases = out.setdefault(name, (cg.dir(controller), []))
        if controller != name:
            aliases.append(controller)
    return out


def mount(target: str, flags: int, cgroups_path: str, root: str = "/sys/fs/cgroup") -> None:
    """Mount the view of the cgroup ``cgroups_path`` (under the host's cgroup ``root``) at
    ``target`` with mount ``flags``.

    Without a cgroup there is nothing of the container's to show: an empty tmpfs.
    """
    cg = cgroups.open(cgroups_path, root) if cgroups_path else None
    if isinstance(cg, cgroups.V2Cgroup):
        _bind(cg.dir(), target, flags)
        return
    # mode 555 as runc leaves it; filled while writable, then made read-only if asked
    sc.mount("tmpfs", target, "tmpfs", flags & ~sc.MS_RDONLY, "mode=555")
    for name, (source, aliases) in (v1_hierarchies(cg) if cg else {}).items():
        path = os.path.join(target, name)
        os.mkdir(path, 0o755)
        _bind(source, path, flags)
        for alias in aliases:
            os.symlink(name, os.path.join(target, alias))
    if flags & sc.MS_RDONLY:
        sc.mount(None, target, None, sc.MS_REMOUNT | flags)
