"""Resolve a path inside a root directory as if that directory were ``/``.

A container's rootfs is untrusted: ``/etc/passwd`` may be a symlink to
``/../../host/etc/shadow``, and a mount target may be ``../../etc``. Every
lookup the host does inside a rootfs goes through ``secure_join``, which walks
the path one component at a time and resolves each symlink relative to the
root, never letting ``..`` climb above it (the same rule as Go's securejoin).
"""

from __future__ import annotations

import errno
import os

_MAX_SYMLINKS = 255


def secure_join(root: str, unsafe: str) -> str:
    """Host path of ``unsafe`` as seen from inside ``root``; never outside it.

    Missing components are kept as they are (the caller may create them).
    """
    root = os.path.abspath(root)
    parts = [p for p in unsafe.split("/") if p]
    resolved: list[str] = []
    links = 0
    while parts:
        part = parts.pop(0)
        if part == ".":
            continue
        if part == "..":
            if resolved:
                resolved.pop()
            continue
        host = os.path.join(root, *resolved, part)
        try:
            target = os.readlink(host)
        except OSError:  # not a symlink, or missing: take it literally
            resolved.append(part)
            continue
        links += 1
        if links > _MAX_SYMLINKS:
            raise OSError(errno.ELOOP, f"too many symlinks resolving {unsafe} in {root}")
        if target.startswith("/"):
            resolved = []
        parts = [p for p in target.split("/") if p] + parts
    return os.path.join(root, *resolved)
