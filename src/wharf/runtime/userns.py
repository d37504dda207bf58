"""User namespaces of containers (OCI ``linux.uidMappings``/``gidMappings``).

A container's user namespace is made by a short-lived helper: a fork that
unshares CLONE_NEWUSER and waits while its parent writes the mappings (only a
process with CAP_SETUID in the parent namespace may map more than one id, so
the namespace's own members cannot), then exits; its namespace lives on
through the fd the caller keeps. The container's process enters it last,
after its rootfs and other namespaces are made as the host's root
(``wharf.runtime.container``): those stay owned by the host's user
namespace, so the container's root holds no capability over them, and the
rootfs is not id-mapped (overlayfs here refuses an id-mapped mount of
itself), so the image's files show as the overflow ids (nobody).
"""

from __future__ import annotations

import os
from typing import Any

from wharf.linux import syscalls as sc


def _map_text(mappings: list[dict[str, Any]]) -> str:
    return "".join(f"{m['containerID']} {m['hostID']} {m['size']}\n" for m in mappings)


def create(uid_mappings: list[dict[str, Any]], gid_mappings: list[dict[str, Any]]) -> int:
    """An fd (close-on-exec) of a new user namespace with these mappings."""
    ready_r, ready_w = os.pipe()
    hold_r, hold_w = os.pipe()
    pid = os.fork()
    if pid == 0:  # the helper never returns from here
        try:
            os.close(ready_r)
            os.close(hold_w)
            sc.unshare(sc.CLONE_NEWUSER)
            os.write(ready_w, b"1")
            os.read(hold_r, 1)  # until the parent has the namespace open
        finally:
            os._exit(0)
    os.close(ready_w)
    os.close(hold_r)
    try:
        if os.read(ready_r, 1) != b"1":
            raise OSError(f"the user namespace helper {pid} failed")
        for name, mappings in (("uid_map", uid_mappings), ("gid_map", gid_mappings)):
            with open(f"/proc/{pid}/{name}", "w") as f:
                f.write(_map_text(mappings))
        return os.open(f"/proc/{pid}/ns/user", os.O_RDONLY | os.O_CLOEXEC)
    finally:
        os.close(ready_r)
        os.close(hold_w)
        os.waitpid(pid, 0)
