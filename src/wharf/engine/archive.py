"""``docker cp``: read and write paths inside a container's root, never outside.

The container's files are hostile: any component of a path may be a
symlink to ``/``, to ``..`` or to a host path, and a process inside may swap
one in while we work. So nothing here resolves a container path with the
host's rules. Every lookup is ``openat2(RESOLVE_IN_ROOT)`` on a directory
fd of the container's root (symlinks and ``..`` are clamped to that root,
atomically, by the kernel); trees are walked and files created through
directory fds with ``O_NOFOLLOW``, so a swapped component cannot redirect a
read or a write. The root of a running container is its mount namespace's
(``/proc/PID/root``, volumes included); a stopped one's rw layer is mounted
for the duration of the call, its volumes and bind mounts bound in it.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import errno
import json
import os
import posixpath
import stat
import tarfile
from datetime import datetime, timezone
from typing import IO, Any, AsyncIterator, Iterator

from wharf.engine.volumes import mount_points
from wharf.errors import InvalidParameter, NotFound, WharfError
from wharf.linux import syscalls as sc

_IN_ROOT = sc.RESOLVE_IN_ROOT | sc.RESOLVE_NO_MAGICLINKS
STAT_HEADER = "X-Docker-Container-Path-Stat"

# Go's os.FileMode type bits, as Docker's PathStat carries them.
_GO_TYPE = ((stat.S_ISDIR, 1 << 31), (stat.S_ISLNK, 1 << 27), (stat.S_ISBLK, 1 << 26),
            (stat.S_ISCHR, (1 << 26) | (1 << 21)), (stat.S_ISFIFO, 1 << 25),
            (stat.S_ISSOCK, 1 << 24))


class PathNotFound(NotFound):
    pass


def _open(rootfd: int, path: str, flags: int) -> int:
    """``path`` (a container path) opened relative to the container's root."""
    rel = posixpath.normpath("/" + path).lstrip("/") or "."
    return sc.openat2(rootfd, rel, flags, _IN_ROOT)


@contextlib.contextmanager
def _parent(rootfd: int, path: str) -> Iterator[tuple[int, str]]:
    """(fd of the parent directory, final name) of a container path; a trailing ``/``
    or ``/.`` means the directory itself, followed."""
    norm = posixpath.normpath("/" + path)
    if norm == "/" or path.endswith(("/", "/.")):
        fd = _open(rootfd, norm, os.O_PATH | os.O_DIRECTORY)
        name = "."
    else:
        head, name = posixpath.split(norm)
        fd = _open(rootfd, head, os.O_PATH | os.O_DIRECTORY)
    try:
        yield fd, name
    finally:
        os.close(fd)


def _go_mode(mode: int) -> int:
    out = stat.S_IMODE(mode) & 0o777
    for test, bit in _GO_TYPE:
        if test(mode):
            out |= bit
    if mode & stat.S_ISUID:
        out |= 1 << 23
    if mode & stat.S_ISGID:
        out |= 1 << 22
    if mode & stat.S_ISVTX:
        out |= 1 << 20
    return out


def _missing(path: str, cid: str) -> PathNotFound:
    return PathNotFound(f"Could not find the file {path} in container {cid}")


def stat_path(rootfd: int, path: str, cid: str) -> dict[str, Any]:
    """Docker's PathStat of ``path`` (a symlink itself, with its in-root target)."""
    try:
        with _parent(rootfd, path) as (pfd, name):
            st = os.stat(name, dir_fd=pfd, follow_symlinks=False)
            link = ""
            if stat.S_ISLNK(st.st_mode):
                target = os.readlink(name, dir_fd=pfd)
                base = os.readlink(f"/proc/self/fd/{pfd}")
                root = os.readlink(f"/proc/self/fd/{rootfd}")
                inside = "/" + posixpath.relpath(base, root) if base != root else "/"
                link = posixpath.normpath(posixpath.join(inside, target))
    except FileNotFoundError:
        raise _missing(path, cid) from None
    except NotADirectoryError:
        raise _missing(path, cid) from None
    mtime = datetime.fromtimestamp(st.st_mtime, timezone.utc).isoformat().replace("+00:00", "Z")
    display = posixpath.basename(posixpath.normpath("/" + path)) or "/"
    return {"name": display, "size": st.st_size, "mode": _go_mode(st.st_mode), "mtime": mtime,
            "linkTarget": link}


def encode_stat(st: dict[str, Any]) -> str:
    return base64.b64encode(json.dumps(st).encode()).decode()


# -- reading -------------------------------------------------------------------

def write_archive(rootfd: int, path: str, cid: str, out: IO[bytes]) -> None:
    """A tar of ``path`` (named by its base name, or ``.`` for ``dir/.``) into ``out``."""
    try:
        with _parent(rootfd, path) as (pfd, name):
            arc = "." if name == "." and path.endswith("/.") else \
                (posixpath.basename(posixpath.normpath("/" + path)) or ".")
            with tarfile.open(fileobj=out, mode="w|", format=tarfile.PAX_FORMAT) as tar:
                _add(tar, pfd, name, arc, {})
    except (FileNotFoundError, NotADirectoryError):
        raise _missing(path, cid) from None


def _add(tar: tarfile.TarFile, pfd: int, name: str, arc: str, seen: dict[tuple[int, int], str]) -> None:
    st = os.stat(name, dir_fd=pfd, follow_symlinks=False)
    info = tarfile.TarInfo(arc)
    info.mode, info.uid, info.gid = stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid
    info.mtime = int(st.st_mtime)
    if stat.S_ISDIR(st.st_mode):
        info.type = tarfile.DIRTYPE
        dfd = os.open(name, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=pfd)
        try:
            tar.addfile(info)
            for child in sorted(os.listdir(dfd)):
                _add(tar, dfd, child, f"{arc}/{child}", seen)
        finally:
            os.close(dfd)
        return
    key = (st.st_dev, st.st_ino)
    if st.st_nlink > 1 and key in seen:
        info.type, info.linkname = tarfile.LNKTYPE, seen[key]
        tar.addfile(info)
        return
    seen[key] = arc
    if stat.S_ISREG(st.st_mode):
        fd = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=pfd)
        with os.fdopen(fd, "rb") as f:
            info.size = os.fstat(fd).st_size
            tar.addfile(info, f)
        return
    if stat.S_ISLNK(st.st_mode):
        info.type, info.linkname = tarfile.SYMTYPE, os.readlink(name, dir_fd=pfd)
    elif stat.S_ISCHR(st.st_mode) or stat.S_ISBLK(st.st_mode):
        info.type = tarfile.CHRTYPE if stat.S_ISCHR(st.st_mode) else tarfile.BLKTYPE
        info.devmajor, info.devminor = os.major(st.st_rdev), os.minor(st.st_rdev)
    elif stat.S_ISFIFO(st.st_mode):
        info.type = tarfile.FIFOTYPE
    else:
        return  # sockets do not go into archives
    tar.addfile(info)


# -- writing -------------------------------------------------------------------

def extract_archive(rootfd: int, path: str, cid: str, src: IO[bytes],
                    no_overwrite_dir_non_dir: bool = False) -> None:
    """Unpack a tar into the directory ``path`` of the container."""
    dest = posixpath.normpath("/" + path)
    try:
        os.close(_open(rootfd, dest, os.O_PATH | os.O_DIRECTORY))
    except FileNotFoundError:
        raise _missing(path, cid) from None
    except NotADirectoryError:
        raise InvalidParameter("extraction point is not a directory") from None
    try:
        with tarfile.open(fileobj=src, mode="r|*") as tar:
            for member in tar:
                parts = [p for p in member.name.split("/") if p not in ("", ".")]
                if not parts or ".." in parts:
                    continue  # names that climb out of the archive are not ours to write
                target = posixpath.join(dest, *parts)
                with _make_parents(rootfd, target) as (pfd, name):
                    _extract_one(tar, member, rootfd, dest, pfd, name, no_overwrite_dir_non_dir)
    except tarfile.TarError as e:
        raise InvalidParameter(f"Error processing tar file: {e}") from None


@contextlib.contextmanager
def _make_parents(rootfd: int, target: str) -> Iterator[tuple[int, str]]:
    """Like ``_parent``, creating missing directories (each one in-root) on the way."""
    head, name = posixpath.split(target)
    try:
        fd = _open(rootfd, head, os.O_PATH | os.O_DIRECTORY)
    except FileNotFoundError:
        with _make_parents(rootfd, head) as (gfd, dirname):
            with contextlib.suppress(FileExistsError):
                os.mkdir(dirname, 0o755, dir_fd=gfd)
        fd = _open(rootfd, head, os.O_PATH | os.O_DIRECTORY)
    try:
        yield fd, name
    finally:
        os.close(fd)


def _clear(pfd: int, name: str, member: tarfile.TarInfo, strict: bool) -> bool:
    """Make room for ``member``; True if a directory it can reuse is already there."""
    try:
        st = os.stat(name, dir_fd=pfd, follow_symlinks=False)
    except FileNotFoundError:
        return False
    is_dir = stat.S_ISDIR(st.st_mode)
    if is_dir and member.isdir():
        return True
    if is_dir:
        raise InvalidParameter(f"cannot overwrite directory {member.name!r} with non-directory")
    if member.isdir() and strict:
        raise InvalidParameter(f"cannot overwrite non-directory {member.name!r} with directory")
    os.unlink(name, dir_fd=pfd)
    return False


def _extract_one(tar: tarfile.TarFile, m: tarfile.TarInfo, rootfd: int, dest: str, pfd: int,
                 name: str, strict: bool) -> None:
    reuse = _clear(pfd, name, m, strict)
    flags = os.O_NOFOLLOW | os.O_CLOEXEC
    if m.isdir():
        if not reuse:
            os.mkdir(name, 0o700, dir_fd=pfd)
        fd = os.open(name, os.O_RDONLY | os.O_DIRECTORY | flags, dir_fd=pfd)
        _own(fd, m)
        os.close(fd)
    elif m.isfile():
        fd = os.open(name, os.O_WRONLY | os.O_CREAT | os.O_EXCL | flags, 0o600, dir_fd=pfd)
        with os.fdopen(fd, "wb") as out:
            data = tar.extractfile(m)
            while data is not None and (chunk := data.read(1 << 20)):
                out.write(chunk)
            _own(fd, m)
            os.utime(fd, (m.mtime, m.mtime))
    elif m.issym():
        os.symlink(m.linkname, name, dir_fd=pfd)
        os.chown(name, m.uid, m.gid, dir_fd=pfd, follow_symlinks=False)
    elif m.islnk():
        source = posixpath.join(dest, *[p for p in m.linkname.split("/") if p not in ("", ".")])
        with _parent(rootfd, source) as (sfd, sname):
            os.link(sname, name, src_dir_fd=sfd, dst_dir_fd=pfd, follow_symlinks=False)
    elif m.ischr() or m.isblk() or m.isfifo():
        kind = stat.S_IFCHR if m.ischr() else stat.S_IFBLK if m.isblk() else stat.S_IFIFO
        os.mknod(name, kind | (m.mode & 0o777), os.makedev(m.devmajor, m.devminor), dir_fd=pfd)
        os.chown(name, m.uid, m.gid, dir_fd=pfd, follow_symlinks=False)


def _own(fd: int, m: tarfile.TarInfo) -> None:
    os.fchown(fd, m.uid, m.gid)
    os.fchmod(fd, m.mode & 0o7777)


def os_error(e: OSError, path: str, cid: str) -> WharfError:
    """An OSError from a container path as Docker words it."""
    if e.errno in (errno.ENOENT, errno.ENOTDIR):
        return _missing(path, cid)
    if e.errno == errno.EROFS:
        return InvalidParameter("container rootfs is marked read-only")
    return WharfError(f"{path}: {os.strerror(e.errno or 0)}")


# -- the container's root ------------------------------------------------------

def _bind_points(root: str, points: list[dict[str, Any]], bound: list[str]) -> None:
    """A stopped container's volumes and bind mounts bound at their destinations in
    its mounted root (moby's ``mountVolumes``), so a copy into ``/vol`` lands in the
    volume, as it would in the running container. Each destination is made and
    opened in-root (a symlink in the layer cannot aim the mount outside it) and the
    mount made through that fd, private and read-only where the container's is;
    ``bound`` gets each mount's host path as it is made, for the caller to undo."""
    rootfd = os.open(root, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        for p in sorted(points, key=lambda p: p["Destination"].count("/")):
            if p["Type"] not in ("bind", "volume") or not os.path.exists(p["Source"]):
                continue
            is_dir = os.path.isdir(p["Source"])
            with _make_parents(rootfd, p["Destination"]) as (pfd, name):
                with contextlib.suppress(FileExistsError):
                    if is_dir:
                        os.mkdir(name, 0o755, dir_fd=pfd)
                    else:
                        os.close(os.open(name, os.O_CREAT | os.O_EXCL | os.O_WRONLY
                                         | os.O_NOFOLLOW | os.O_CLOEXEC, 0o755, dir_fd=pfd))
            fd = _open(rootfd, p["Destination"], os.O_PATH | os.O_CLOEXEC)
            try:
                where = os.readlink(f"/proc/self/fd/{fd}")
                sc.mount(p["Source"], f"/proc/self/fd/{fd}", None, sc.MS_BIND | sc.MS_REC)
            finally:
                os.close(fd)
            bound.append(where)
            sc.mount(None, where, None, sc.MS_REC | sc.MS_PRIVATE)
            if not p["RW"]:
                sc.mount(None, where, None, sc.MS_BIND | sc.MS_REMOUNT | sc.MS_RDONLY)
    finally:
        os.close(rootfd)


_stopped_locks: dict[str, asyncio.Lock] = {}


@contextlib.asynccontextmanager
async def container_root(engine: Any, ref: str) -> AsyncIterator[tuple[int, str]]:
    """(directory fd of the container's root, container id) for the duration of a copy.

    A running container: its init's root, seen through its mount namespace. A
    stopped one: its rw layer mounted under ``{exec_root}/archive`` (one copy at
    a time per container, so two overlay mounts of one upper dir never meet).
    """
    c = engine.containers.get(ref)
    pid = c.state.get("Pid") if c.running else 0
    if pid:
        fd = os.open(f"/proc/{pid}/root", os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
        try:
            yield fd, c.id
        finally:
            os.close(fd)
        return
    lock = _stopped_locks.setdefault(c.id, asyncio.Lock())
    async with lock:
        target = os.path.join(engine.config.exec_root, "archive", c.id)
        await asyncio.to_thread(os.makedirs, target, 0o700, True)
        await engine.images.mount_rw_layer(c.id, target)
        bound: list[str] = []
        try:
            await asyncio.to_thread(_bind_points, target, mount_points(c), bound)
            fd = os.open(target, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
            try:
                yield fd, c.id
            finally:
                os.close(fd)
        finally:
            for where in reversed(bound):
                with contextlib.suppress(OSError):
                    sc.umount2(where, sc.MNT_DETACH)
            await engine.images.unmount_rw_layer(c.id, target)
            with contextlib.suppress(OSError):
                os.rmdir(target)
    if not lock.locked():
        _stopped_locks.pop(c.id, None)
