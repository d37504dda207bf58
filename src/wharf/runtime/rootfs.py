"""Prepare a container's filesystem view inside its new mount namespace.

Runs in the forked child before exec: the spec's mounts on top of a bind of
the rootfs, a fresh /dev with the few device nodes a container gets, then
pivot_root into it and the masked / read-only paths. Every target inside
the rootfs is resolved with ``secure_join`` so image symlinks cannot point a
mount at the host.
"""

from __future__ import annotations

import errno
import os
import stat
from typing import Any

from wharf.linux import mountinfo
from wharf.linux import syscalls as sc
from wharf.linux import userns
from wharf.linux.paths import secure_join
from wharf.runtime import cgroupview

_FLAGS = {
    "ro": sc.MS_RDONLY, "nosuid": sc.MS_NOSUID, "nodev": sc.MS_NODEV, "noexec": sc.MS_NOEXEC,
    "sync": sc.MS_SYNCHRONOUS, "dirsync": sc.MS_DIRSYNC, "noatime": sc.MS_NOATIME,
    "nodiratime": sc.MS_NODIRATIME, "relatime": sc.MS_RELATIME,
    "strictatime": sc.MS_STRICTATIME, "bind": sc.MS_BIND, "rbind": sc.MS_BIND | sc.MS_REC,
}
_PROPAGATION = {
    "private": sc.MS_PRIVATE, "rprivate": sc.MS_PRIVATE | sc.MS_REC,
    "slave": sc.MS_SLAVE, "rslave": sc.MS_SLAVE | sc.MS_REC,
    "shared": sc.MS_SHARED, "rshared": sc.MS_SHARED | sc.MS_REC,
    "unbindable": sc.MS_UNBINDABLE, "runbindable": sc.MS_UNBINDABLE | sc.MS_REC,
}
_IGNORED = {"rw", "defaults"}
#: runc's option for a read-only bind whose submounts are read-only too (mount_setattr)
RECURSIVE_READONLY = "rro"

#: (name, major, minor) of the device nodes every container's /dev gets.
DEVICES = (("null", 1, 3), ("zero", 1, 5), ("full", 1, 7), ("random", 1, 8),
           ("urandom", 1, 9), ("tty", 5, 0))
_DEV_LINKS = (("fd", "/proc/self/fd"), ("stdin", "/proc/self/fd/0"),
              ("stdout", "/proc/self/fd/1"), ("stderr", "/proc/self/fd/2"))


def parse_options(options: list[str]) -> tuple[int, int, str]:
    """(mount flags, propagation flags, filesystem data) of OCI mount options."""
    flags = propagation = 0
    data = []
    for opt in options:
        if opt in _FLAGS:
            flags |= _FLAGS[opt]
        elif opt in _PROPAGATION:
            propagation |= _PROPAGATION[opt]
        elif opt not in _IGNORED:
            data.append(opt)
    return flags, propagation, ",".join(data)


def _make_target(path: str, as_file: bool) -> None:
    if as_file:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        if not os.path.lexists(path):
            os.close(os.open(path, os.O_CREAT | os.O_WRONLY | os.O_CLOEXEC, 0o644))
    else:
        os.makedirs(path, exist_ok=True)


def mount_one(rootfs: str, m: dict[str, Any], cgroups_path: str = "") -> None:
    """One OCI mount entry at its destination inside ``rootfs`` (a ``cgroup`` one shows
    the cgroup at ``cgroups_path``)."""
    target = secure_join(rootfs, m["destination"])
    options = m.get("options") or []
    flags, propagation, data = parse_options([o for o in options if o != RECURSIVE_READONLY])
    kind = m.get("type") or ("bind" if flags & sc.MS_BIND else "")
    if kind == "cgroup":
        _make_target(target, False)
        cgroupview.mount(target, flags, cgroups_path)
    elif kind == "bind" or flags & sc.MS_BIND:
        source = m["source"]
        _make_target(target, not os.path.isdir(source))
        sc.mount(source, target, None, sc.MS_BIND | (flags & sc.MS_REC))
        extra = flags & ~(sc.MS_BIND | sc.MS_REC)
        if extra:  # bind ignores other flags: they need a remount
            sc.mount(None, target, None, sc.MS_BIND | sc.MS_REMOUNT | extra)
        if RECURSIVE_READONLY in options:  # a remount reaches only the top mount
            sc.mount_setattr(target, sc.MOUNT_ATTR_RDONLY)
    else:
        _make_target(target, False)
        try:
            sc.mount(m.get("source") or kind, target, kind, flags, data or None)
        except PermissionError:
            if kind != "sysfs":
                raise
            # sysfs of the host's network namespace cannot be mounted again: bind it.
            sc.mount("/sys", target, None, sc.MS_BIND | sc.MS_REC)
            sc.mount(None, target, None, sc.MS_BIND | sc.MS_REMOUNT | flags)
    if propagation:
        sc.mount(None, target, None, propagation)


def populate_dev(dev: str) -> None:
    """Device nodes and the usual symlinks in a fresh /dev tmpfs (binds of the host's
    nodes where mknod is not allowed)."""
    for name, major, minor in DEVICES:
        path = os.path.join(dev, name)
        try:
            os.mknod(path, stat.S_IFCHR | 0o666, os.makedev(major, minor))
            os.chmod(path, 0o666)
        except PermissionError:  # in a user namespace (rootless): the host's node, as runc
            _bind_node(os.path.join("/dev", name), path)
    for name, target in _DEV_LINKS:
        os.symlink(target, os.path.join(dev, name))
    if os.path.exists("/proc/kcore"):  # runc's rule: no dangling /dev/core without it
        os.symlink("/proc/kcore", os.path.join(dev, "core"))
    if os.path.isdir(os.path.join(dev, "pts")):
        os.symlink("pts/ptmx", os.path.join(dev, "ptmx"))


def _bind_node(source: str, target: str) -> None:
    _make_target(target, True)
    sc.mount(source, target, None, sc.MS_BIND)


def bind_host_devices(rootfs: str, devices: list[dict[str, Any]]) -> None:
    """Before pivot_root, in a user namespace (rootless), where mknod is refused: each
    OCI device the host has at the same path, bound into the rootfs (runc's way there);
    ``devices.create`` then keeps them."""
    for dev in devices:
        target = secure_join(rootfs, dev["path"])
        if os.path.exists(dev["path"]) and not os.path.lexists(target):
            _bind_node(dev["path"], target)


def bind_console(pts: str) -> None:
    """Inside the new root: the container's terminal (``/dev/pts/N``) is also /dev/console."""
    _make_target("/dev/console", True)
    sc.mount(pts, "/dev/console", None, sc.MS_BIND)


def pivot(rootfs: str) -> None:
    """Make ``rootfs`` the root and detach the old one (runc's pivot_root(".", ".") trick):
    from the old root (a fd of it: the kernel promises no cwd after pivot_root), made
    rslave first so the detach does not reach the host, and the new root left alone."""
    old_root = os.open("/", os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        os.chdir(rootfs)
        sc.pivot_root(".", ".")
        os.fchdir(old_root)
    finally:
        os.close(old_root)
    sc.mount(None, ".", None, sc.MS_SLAVE | sc.MS_REC)
    sc.umount2(".", sc.MNT_DETACH)
    os.chdir("/")


def mask(paths: list[str]) -> None:
    """Hide paths: /dev/null over files, an empty read-only tmpfs over directories."""
    for path in paths:
        try:
            if os.path.isdir(path):
                sc.mount("tmpfs", path, "tmpfs", sc.MS_RDONLY)
            else:
                sc.mount("/dev/null", path, None, sc.MS_BIND)
        except FileNotFoundError:
            pass


_READONLY = sc.MS_RDONLY | sc.MS_NOSUID | sc.MS_NODEV | sc.MS_NOEXEC


def make_readonly(paths: list[str]) -> None:
    """Read-only binds of ``paths`` onto themselves, also nosuid, nodev and noexec (runc's
    flags, so /proc/sys in mountinfo reads as under Docker)."""
    for path in paths:
        try:
            sc.mount(path, path, None, sc.MS_BIND | sc.MS_REC)
        except FileNotFoundError:
            continue
        sc.mount(None, path, None, sc.MS_BIND | sc.MS_REMOUNT | sc.MS_REC | _READONLY)


def prepare(spec: dict[str, Any], rootfs: str) -> None:
    """The whole filesystem setup, ending inside the new root."""
    # rslave (runc's default root propagation), not rprivate: a bind asking for slave or
    # shared propagation must still receive the host's mounts; every other mount of the
    # spec says rprivate for itself. rshared (``rootfsPropagation``, for a shared bind)
    # keeps the host's shared mounts peers of ours, so a mount made in such a bind
    # reaches the host; the root and the mount holding the rootfs are then made private
    # (runc's rootfsParentMountPrivate): pivot_root refuses shared ones, and the
    # container's own mounts (/proc...) must not reach the host.
    linux = spec.get("linux") or {}
    propagation = _PROPAGATION[linux.get("rootfsPropagation") or "rslave"]
    sc.mount(None, "/", None, sc.MS_REC | propagation)
    if propagation & sc.MS_SHARED:
        for path in ("/", mountinfo.holding(rootfs)):
            sc.mount(None, path, None, sc.MS_PRIVATE)
    sc.mount(rootfs, rootfs, None, sc.MS_BIND | sc.MS_REC)
    fresh_dev = False
    for m in spec.get("mounts") or []:
        mount_one(rootfs, m, linux.get("cgroupsPath") or "")
        fresh_dev |= m["destination"] == "/dev" and m.get("type") == "tmpfs"
    if fresh_dev:
        populate_dev(secure_join(rootfs, "/dev"))
    if userns.inside():
        bind_host_devices(rootfs, linux.get("devices") or [])
    pivot(rootfs)
    mask(linux.get("maskedPaths") or [])
    make_readonly(linux.get("readonlyPaths") or [])
    if (spec.get("root") or {}).get("readonly"):
        sc.mount(None, "/", None, sc.MS_BIND | sc.MS_REMOUNT | sc.MS_RDONLY)


def ensure_cwd(cwd: str) -> None:
    """Create the working directory if the image lacks it, as Docker does."""
    try:
        os.makedirs(cwd, 0o755, exist_ok=True)
    except OSError as e:
        if e.errno not in (errno.EROFS, errno.EEXIST, errno.ENOTDIR):
            raise
