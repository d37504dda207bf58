"""The mount table of a process, as ``/proc/PID/mountinfo`` gives it.

One reader for every place in wharfd, the shim and the runtime that asks "what is mounted where": the kernel writes
each path (and the source, type and options) with space, tab, newline and
backslash as ``\\ooo`` and every other byte as it is, so a mount point under a
spaced or non-ASCII directory reads back as the path that was mounted; a
``line.split()[4]`` does not. Fields (proc(5)): ``36 35 98:0 /mnt1 /mnt2 rw,noatime
master:1 - ext3 /dev/root rw,errors=continue``.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass

_ESCAPE = re.compile(rb"\\([0-7]{3})")


@dataclass(frozen=True)
class Mount:
    """One line of mountinfo, its paths decoded."""

    mount_id: int
    parent_id: int
    device: str  # major:minor
    root: str  # the path in its filesystem that is mounted here
    mount_point: str
    options: str  # this mount's (per mount point) options
    optional: tuple[str, ...]  # propagation tags: shared:N, master:N, unbindable...
    fstype: str
    source: str
    super_options: str  # the filesystem's (superblock's) options


def unescape(field: bytes) -> str:
    """A field as the kernel wrote it (``\\040`` for space...) back to its path; bytes
    that are not UTF-8 stay as ``os.fsdecode`` keeps them, so the path opens again."""
    if b"\\" in field:
        field = _ESCAPE.sub(lambda m: bytes([int(m.group(1), 8)]), field)
    return os.fsdecode(field)


def parse_line(line: bytes) -> Mount:
    """One mountinfo line; the optional fields run up to the lone ``-``."""
    fields = line.split()
    dash = fields.index(b"-", 6)
    mount_id, parent_id, device, root, point, options = fields[:6]
    fstype, source, super_options = fields[dash + 1:dash + 4]
    return Mount(int(mount_id), int(parent_id), device.decode(), unescape(root),
                 unescape(point), options.decode(), tuple(f.decode() for f in fields[6:dash]),
                 unescape(fstype), unescape(source), unescape(super_options))


def mounts() -> list[Mount]:
    """This process's mount table (its mount namespace's), in mount order."""
    with open("/proc/self/mountinfo", "rb") as f:
        return [parse_line(line) for line in f if line.strip()]


def mount_points() -> list[str]:
    """Every mount point, in mount order (one path twice where mounts are stacked)."""
    return [m.mount_point for m in mounts()]


def is_mount_point(path: str) -> bool:
    """Whether something is mounted exactly at ``path`` (in this process's namespace)."""
    return path in mount_points()


def below(path: str) -> list[str]:
    """Mount points strictly below ``path``, deepest first: the order to unmount them."""
    prefix = path.rstrip("/") + "/"
    return sorted((p for p in mount_points() if p.startswith(prefix)), reverse=True)


def holding(path: str) -> str:
    """The mount point of the mount ``path`` is on (the longest one at or above it)."""
    return max((p for p in mount_points()
                if p == path or path.startswith(p.rstrip("/") + "/")), key=len)
