"""Extra device nodes of a container (``--device``, ``--privileged``), made in its /dev.

Runs in the container's child after pivot_root, still as root: each OCI
``linux.devices`` entry becomes a node with its mode and owner. Whether the
node can be *opened* is the device cgroup's decision, not this one's.
"""

from __future__ import annotations

import os
import stat
from typing import Any

_KINDS = {"c": stat.S_IFCHR, "u": stat.S_IFCHR, "b": stat.S_IFBLK, "p": stat.S_IFIFO}


def create(devices: list[dict[str, Any]]) -> None:
    """mknod each device at its path (inside the new root); existing paths are kept."""
    for dev in devices:
        path = dev["path"]
        if os.path.lexists(path):
            continue
        os.makedirs(os.path.dirname(path) or "/", 0o755, exist_ok=True)
        mode = dev.get("fileMode", 0o666) & 0o7777
        os.mknod(path, _KINDS[dev.get("type", "c")] | mode,
                 os.makedev(dev.get("major", 0), dev.get("minor", 0)))
        os.chmod(path, mode)
        os.chown(path, dev.get("uid", 0), dev.get("gid", 0))
