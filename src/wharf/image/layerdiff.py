"""Overlay layers read back: a container's changes (``diff``), its writable
layer as a layer tar (``commit``), and the merged tree as a tar (``export``).

overlayfs records a deletion in the upper dir as a 0/0 character device and
a directory that hides everything below it with the ``trusted.overlay.opaque``
xattr. Layer tars say the same with ``.wh.<name>`` and ``.wh..wh..opq``
entries; ``LayerTarWriter.add_upper`` converts one way, ``archive`` (on
extraction) the other. Reading the merged tree walks the layer directories
themselves rather than a mount: a stopped container has no mount, and a
second overlay mount of a live upper dir is undefined behaviour.
"""

from __future__ import annotations

import os
import stat
import tarfile
from typing import BinaryIO, Iterable, Iterator

from wharf.image.archive import (OPAQUE_XATTR, OVERLAY_XATTR_PREFIX, WHITEOUT_OPAQUE,
                                 WHITEOUT_PREFIX)

CHUNK = 1 << 20
#: Docker's change kinds (``GET /containers/{id}/changes``)
MODIFIED, ADDED, DELETED = 0, 1, 2


def is_whiteout(st: os.stat_result) -> bool:
    return stat.S_ISCHR(st.st_mode) and st.st_rdev == 0


def is_opaque(path: str) -> bool:
    try:
        return os.getxattr(path, OPAQUE_XATTR, follow_symlinks=False) == b"y"
    except OSError:
        return False


def _children(path: str) -> list[str]:
    return sorted(os.listdir(path))


def walk(root: str) -> Iterator[tuple[str, str, os.stat_result]]:
    """(relative path, path, lstat) of everything under ``root``, parents first, sorted."""
    for name in _children(root):
        path = os.path.join(root, name)
        st = os.lstat(path)
        yield name, path, st
        if stat.S_ISDIR(st.st_mode):
            for rel, sub, sub_st in walk(path):
                yield f"{name}/{rel}", sub, sub_st


def regular_bytes(stats: Iterable[os.stat_result]) -> int:
    """Bytes of the regular files among ``stats``, each inode once (hard links share
    their bytes): a writable layer's size, Docker's SizeRw."""
    seen: set[int] = set()
    total = 0
    for st in stats:
        if stat.S_ISREG(st.st_mode) and st.st_ino not in seen:
            seen.add(st.st_ino)
            total += st.st_size
    return total


def walk_merged(layers: list[str]) -> Iterator[tuple[str, str, os.stat_result]]:
    """What a mount of ``layers`` (top first) would show, without mounting them."""
    yield from _walk_merged("", [layers[0]] if is_opaque(layers[0]) else layers)


def _walk_merged(rel: str, dirs: list[str]) -> Iterator[tuple[str, str, os.stat_result]]:
    first: dict[str, int] = {}
    for i, d in enumerate(dirs):
        for name in os.listdir(d):
            first.setdefault(name, i)
    for name in sorted(first):
        i = first[name]
        path = os.path.join(dirs[i], name)
        st = os.lstat(path)
        if is_whiteout(st):
            continue
        child = f"{rel}/{name}" if rel else name
        yield child, path, st
        if stat.S_ISDIR(st.st_mode):
            yield from _walk_merged(child, _visible_dirs(name, dirs[i:]))


def _visible_dirs(name: str, dirs: list[str]) -> list[str]:
    """``name`` in each of ``dirs`` (top first) down to the first that hides what is below."""
    out: list[str] = []
    for d in dirs:
        path = os.path.join(d, name)
        try:
            st = os.lstat(path)
        except FileNotFoundError:
            continue
        if not stat.S_ISDIR(st.st_mode):
            break  # a file or a whiteout hides the lower directories
        out.append(path)
        if is_opaque(path):
            break
    return out


def lookup(layers: list[str], rel: str) -> os.stat_result | None:
    """lstat of ``rel`` as the merged tree of ``layers`` (top first) shows it, None if absent."""
    parts = rel.split("/")
    for layer in layers:
        path, hides_below = layer, False
        for k, part in enumerate(parts):
            path = os.path.join(path, part)
            try:
                st = os.lstat(path)
            except FileNotFoundError:
                break
            if is_whiteout(st):
                return None
            if k == len(parts) - 1:
                return st
            if not stat.S_ISDIR(st.st_mode):
                return None
            hides_below = hides_below or is_opaque(path)
        if hides_below:
            return None
    return None


#: What Docker keeps in a container's init layer, below its rw layer (moby's
#: ``initlayer.Setup``), with the directories that hold it: the mount points the
#: runtime makes when the image lacks them. Here they land in the rw layer, so
#: ``changes`` counts them as the init layer's, as ``docker diff`` never lists them.
INIT_LAYER = {"dev", "dev/pts", "dev/shm", "dev/console", "proc", "sys", ".dockerenv", "etc",
              "etc/resolv.conf", "etc/hosts", "etc/hostname", "etc/mtab"}


def is_init_stub(rel: str, st: os.stat_result) -> bool:
    """An init-layer path as the runtime left it: a directory, or an empty file."""
    return rel in INIT_LAYER and (stat.S_ISDIR(st.st_mode) or
                                  stat.S_ISREG(st.st_mode) and st.st_size == 0)


def changes(upper: str, lowers: list[str]) -> list[tuple[str, int]]:
    """Docker's ``diff`` of a writable layer: ("/path", kind), sorted by path.

    As Docker does, a directory copied up unchanged is not reported by
    itself, but the parent of anything added or deleted is reported changed;
    the init layer's mount points (``INIT_LAYER``) count as present below.
    """
    out: dict[str, int] = {}
    changed_dirs: set[str] = set()
    opaque_dirs: list[str] = []
    for rel, path, st in walk(upper):
        below = None if any(rel.startswith(d + "/") for d in opaque_dirs) else lookup(lowers, rel)
        if below is None and is_init_stub(rel, st):
            continue
        if is_whiteout(st):
            kind = DELETED
        elif stat.S_ISDIR(st.st_mode) and is_opaque(path):
            opaque_dirs.append(rel)
            kind = DELETED if below is not None else ADDED
        elif below is None:
            kind = ADDED
        elif stat.S_ISDIR(st.st_mode) and stat.S_ISDIR(below.st_mode) and _same_dir(st, below):
            continue
        else:
            kind = MODIFIED
        out["/" + rel] = kind
        if stat.S_ISDIR(st.st_mode):
            changed_dirs.add(rel)
        parent = os.path.dirname(rel)
        if kind != MODIFIED and parent and parent not in changed_dirs:
            out["/" + parent] = MODIFIED
            changed_dirs.add(parent)
    return sorted(out.items())


def _same_dir(a: os.stat_result, b: os.stat_result) -> bool:
    return a.st_mode == b.st_mode and a.st_size == b.st_size and int(a.st_mtime) == int(b.st_mtime)


class UpperDiff:
    """An overlay upper dir (or a tree made from nothing) as a ``snapshot.Diff``: the
    upper dir holds exactly the changes, whiteouts included."""

    def __init__(self, upper: str) -> None:
        self.top = upper

    def empty(self) -> bool:
        return not os.listdir(self.top)

    def write(self, out: BinaryIO) -> None:
        with LayerTarWriter(out) as tar:
            tar.add_upper(self.top)

    @staticmethod
    def needed(rel: str) -> bool:
        """Never: what the upper dir loses, the lower layers show again."""
        return False


class LayerTarWriter:
    """A tar stream of filesystem entries: hard links kept, user xattrs and capabilities kept."""

    def __init__(self, out: BinaryIO) -> None:
        self.tar = tarfile.open(fileobj=out, mode="w|", format=tarfile.PAX_FORMAT, bufsize=CHUNK,
                                copybufsize=CHUNK)
        self._links: dict[tuple[int, int], str] = {}

    def __enter__(self) -> "LayerTarWriter":
        return self

    def __exit__(self, *exc: object) -> None:
        self.tar.close()

    def add_merged(self, layers: list[str]) -> None:
        """The merged tree (``export``)."""
        for rel, path, st in walk_merged(layers):
            self.add(rel, path, st)

    def add_upper(self, upper: str) -> None:
        """A writable layer as a layer tar: whiteouts and opaque dirs as ``.wh.`` entries."""
        for rel, path, st in walk(upper):
            if is_whiteout(st):
                parent, name = os.path.split(rel)
                self.empty(os.path.join(parent, WHITEOUT_PREFIX + name))
                continue
            self.add(rel, path, st)
            if stat.S_ISDIR(st.st_mode) and is_opaque(path):
                self.empty(f"{rel}/{WHITEOUT_OPAQUE}")

    def empty(self, name: str) -> None:
        info = tarfile.TarInfo(name)
        info.mode = 0o600
        self.tar.addfile(info)

    def add(self, rel: str, path: str, st: os.stat_result) -> None:
        info = tarfile.TarInfo(rel)
        info.uid, info.gid, info.mode, info.mtime = st.st_uid, st.st_gid, stat.S_IMODE(st.st_mode), int(st.st_mtime)
        mode = st.st_mode
        if stat.S_ISREG(mode):
            key = (st.st_dev, st.st_ino)
            if st.st_nlink > 1 and key in self._links:
                info.type, info.linkname = tarfile.LNKTYPE, self._links[key]
            else:
                self._links[key] = rel
                info.size = st.st_size
                self._xattrs(info, path)
                with open(path, "rb") as f:
                    self.tar.addfile(info, f)
                return
        elif stat.S_ISDIR(mode):
            info.type = tarfile.DIRTYPE
        elif stat.S_ISLNK(mode):
            info.type, info.linkname = tarfile.SYMTYPE, os.readlink(path)
        elif stat.S_ISFIFO(mode):
            info.type = tarfile.FIFOTYPE
        elif stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
            info.type = tarfile.CHRTYPE if stat.S_ISCHR(mode) else tarfile.BLKTYPE
            info.devmajor, info.devminor = os.major(st.st_rdev), os.minor(st.st_rdev)
        else:
            return  # sockets cannot be archived
        self._xattrs(info, path)
        self.tar.addfile(info)

    @staticmethod
    def _xattrs(info: tarfile.TarInfo, path: str) -> None:
        try:
            names = os.listxattr(path, follow_symlinks=False)
        except OSError:
            return
        for name in names:
            if name.startswith(OVERLAY_XATTR_PREFIX):
                continue
            value = os.getxattr(path, name, follow_symlinks=False)
            info.pax_headers[f"SCHILY.xattr.{name}"] = value.decode("utf-8", "surrogateescape")
