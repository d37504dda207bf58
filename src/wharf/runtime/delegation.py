"""A cgroup v2 subtree delegated to a user: where a rootless daemon's containers get
their limits.

systemd's ``Delegate=yes`` (or root's ``chown``) gives a user a cgroup whose
directory and ``cgroup.procs``, ``cgroup.subtree_control`` and ``cgroup.threads``
the user may write: below it the user makes cgroups, moves its own processes
and enables what the parent let through (``cgroup.controllers``). One rule is in
the way: a cgroup with processes cannot give controllers to children (no
internal processes), and the daemon starts in that cgroup. So everything in it
moves to a leaf, ``LEAF``, first (RootlessKit's ``--evacuate-cgroup2``): the
rootless parent moves what it sees (itself, slirp4netns, the namespaces' child)
before wharfd starts, and wharfd, whose PID namespace shows it only its own
processes, moves what is left and enables the controllers; containers then go
to ``{delegated}/{cgroup parent}/{id}``. A daemon that finds itself in ``LEAF``
(put there by its parent) takes the cgroup above as the delegated one.

``root`` is a parameter so the logic can be tested on a fake tree in a tmp dir.
"""

from __future__ import annotations

import errno
import os

from wharf.runtime import cgroups

#: The leaf the delegated cgroup's own processes move to (the daemon and its helpers).
LEAF = "wharfd"
_FILES = ("cgroup.procs", "cgroup.subtree_control", "cgroup.threads")


def own(proc_cgroup: str = "/proc/self/cgroup") -> str:
    """This process's cgroup v2 path ("0::/path"), from the hierarchy's root."""
    with open(proc_cgroup) as f:
        for line in f:
            if line.startswith("0::"):
                return line[3:].strip()
    return ""


def base(path: str) -> str:
    """The delegated cgroup of a process in ``path``: the one above when ``path`` is
    the leaf a parent moved it to."""
    head, _, tail = path.rstrip("/").rpartition("/")
    return (head or "/") if tail == LEAF else path


def delegated(path: str, root: str = "/sys/fs/cgroup") -> bool:
    """Whether this process may manage ``path``'s subtree: the directory (to make
    cgroups) and the three files a delegation hands over, writable. In a user
    namespace, access(2) says no to files of an unmapped owner (root's)."""
    directory = os.path.join(root, path.lstrip("/"))
    return (path.strip("/") != "" and os.access(directory, os.W_OK | os.X_OK)
            and all(os.access(os.path.join(directory, f), os.W_OK) for f in _FILES))


def evacuate(path: str, root: str = "/sys/fs/cgroup") -> None:
    """Move every process of ``path`` this process can see into ``path/LEAF``. One
    that has exited meanwhile is skipped; pids of other PID namespaces read as 0."""
    directory = os.path.join(root, path.lstrip("/"))
    leaf = os.path.join(directory, LEAF)
    os.makedirs(leaf, exist_ok=True)
    with open(os.path.join(directory, "cgroup.procs")) as f:
        pids = [p for p in f.read().split() if p != "0"]
    for pid in pids:
        try:
            with open(os.path.join(leaf, "cgroup.procs"), "w") as f:
                f.write(pid)
        except ProcessLookupError:
            continue


def enable(path: str, root: str = "/sys/fs/cgroup") -> list[str]:
    """Enable for ``path``'s children every controller its parent delegated; those
    enabled. Processes still in ``path`` (outside this PID namespace) make it EBUSY."""
    directory = os.path.join(root, path.lstrip("/"))
    with open(os.path.join(directory, "cgroup.controllers")) as f:
        wanted = f.read().split()
    if wanted:
        try:
            with open(os.path.join(directory, "cgroup.subtree_control"), "w") as f:
                f.write(" ".join("+" + c for c in wanted))
        except OSError as e:
            why = ("processes outside the daemon are still in it" if e.errno == errno.EBUSY
                   else os.strerror(e.errno))
            raise OSError(e.errno, f"enabling {' '.join(wanted)} in {path}: {why}") from None
    with open(os.path.join(directory, "cgroup.subtree_control")) as f:
        return f.read().split()


def mine(proc_cgroup: str = "/proc/self/cgroup", root: str = "/sys/fs/cgroup") -> str | None:
    """This process's delegated cgroup; None where it has none (cgroup v1, or a v2
    cgroup the user does not own)."""
    if not cgroups.is_v2(root):
        return None
    path = base(own(proc_cgroup))
    return path if delegated(path, root) else None


def take(proc_cgroup: str = "/proc/self/cgroup",
         root: str = "/sys/fs/cgroup") -> tuple[str, list[str]] | None:
    """The daemon's part: (delegated cgroup, controllers enabled for containers), its
    processes moved to the leaf; None without a delegated cgroup."""
    path = mine(proc_cgroup, root)
    if path is None:
        return None
    evacuate(path, root)
    return path, enable(path, root)
