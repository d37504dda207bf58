"""Whether this process runs in a user namespace of its own (a rootless wharfd's).

Inside one, what only the host's root may do is refused: overlayfs cannot write
its ``trusted.overlay.*`` xattrs and keeps them under ``user.overlay.*`` instead
(mount option ``userxattr``, Linux 5.11), and device nodes cannot be made.
"""

from __future__ import annotations

import functools

#: /proc/self/uid_map of the host's namespace: every uid, mapped to itself.
_IDENTITY = ["0", "0", "4294967295"]


@functools.cache
def inside() -> bool:
    """True in any user namespace but the host's (read once: a process never leaves it)."""
    try:
        with open("/proc/self/uid_map") as f:
            return f.read().split() != _IDENTITY
    except FileNotFoundError:  # a kernel without user namespaces
        return False
