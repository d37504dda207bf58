"""Content checksums of COPY/ADD sources, for the build cache.

A COPY step is a cache hit only if its sources are the same: same names,
content, mode, type, link target and owner, but not mtime (a fresh ``git
clone`` must still hit). As Docker's classic builder: each path hashes a
tarsum-v1-style header plus its content (here the content's sha256, so a
file's digest taken while the context was unpacked serves without reading
it again); one file gives ``file:<hex>``, a directory ``dir:<hex>`` over
every entry below it, several sources ``multi:<hex>``. The step's cache key then combines the parent image, the
step's config (its ``#(nop) COPY <hash> in <dest>`` text included).
"""

from __future__ import annotations

import hashlib
import json
import os
import stat
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from wharf.image.archive import ContentDigests

_CHUNK = 1 << 20
_TYPEFLAGS = {stat.S_IFREG: "0", stat.S_IFLNK: "2", stat.S_IFCHR: "3", stat.S_IFBLK: "4",
              stat.S_IFDIR: "5", stat.S_IFIFO: "6"}


def entry_hash(name: str, mode: int, uid: int, gid: int, size: int, link: str = "", rdev: int = 0,
               digest: str = "") -> str:
    """Hex digest of one entry from its metadata (``mode`` with its type bits) and, for a
    regular file, its content's sha256: the same whether the entry is on disk or in a tar
    kept in memory (``wharf.build.received``)."""
    kind = stat.S_IFMT(mode)
    is_dev = kind in (stat.S_IFCHR, stat.S_IFBLK)
    fields = [
        ("name", name + "/" if kind == stat.S_IFDIR else name),
        ("mode", str(mode)),
        ("uid", str(uid)),
        ("gid", str(gid)),
        ("size", str(size if kind == stat.S_IFREG else 0)),
        ("typeflag", _TYPEFLAGS.get(kind, "0")),
        ("linkname", link),
        ("uname", ""),
        ("gname", ""),
        ("devmajor", str(os.major(rdev) if is_dev else 0)),
        ("devminor", str(os.minor(rdev) if is_dev else 0)),
    ]
    h = hashlib.sha256("".join(k + v for k, v in fields).encode("utf-8", "surrogateescape"))
    if kind == stat.S_IFREG:
        h.update(digest.encode())
    return h.hexdigest()


def path_hash(root: str, rel: str, uid: int | None = None, gid: int | None = None,
              digests: ContentDigests | None = None) -> str:
    """Hex digest of one entry (not following a final symlink); owner from disk unless given.

    ``digests``: content digests known for files under ``root`` (others are read).
    """
    path = os.path.join(root, rel)
    st = os.lstat(path)
    link = os.readlink(path) if stat.S_ISLNK(st.st_mode) else ""
    known = digests.get((st.st_dev, st.st_ino)) if digests else None
    digest = (known or _content_digest(path)) if stat.S_ISREG(st.st_mode) else ""
    return entry_hash(rel.strip("/"), st.st_mode, st.st_uid if uid is None else uid,
                      st.st_gid if gid is None else gid, st.st_size, link, st.st_rdev, digest)


def _content_digest(path: str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(_CHUNK):
            h.update(chunk)
    return h.hexdigest()


def source_hash(root: str, rel: str, digests: ContentDigests | None = None) -> str:
    """``file:<hex>`` for a non-directory, ``dir:<hex>`` over every entry under a directory."""
    path = os.path.join(root, rel)
    if not os.path.isdir(path) or os.path.islink(path):
        return file_hash(path_hash(root, rel, digests=digests))
    hashes = []
    rel = rel.strip("/")
    if rel and rel != ".":
        hashes.append(path_hash(root, rel, digests=digests))
    for dirpath, dirnames, filenames in os.walk(path):
        dirnames.sort()
        for name in dirnames + sorted(filenames):
            sub = os.path.relpath(os.path.join(dirpath, name), root)
            hashes.append(path_hash(root, sub, digests=digests))
    return dir_hash(hashes)


def file_hash(entry: str) -> str:
    """A source that is one non-directory entry."""
    return "file:" + entry


def dir_hash(entries: list[str]) -> str:
    """A directory source: the hashes of it and every entry below it, in any order."""
    return "dir:" + _joined(sorted(entries))


def content_hash(data: bytes) -> str:
    """A source that is not a context file (a ``COPY <<EOF`` body)."""
    return "file:" + hashlib.sha256(data).hexdigest()


def combined(hashes: list[str]) -> str:
    """One source keeps its own hash; several become ``multi:<hex>``, in order."""
    return hashes[0] if len(hashes) == 1 else "multi:" + _joined(hashes)


def _joined(items: list[str]) -> str:
    return hashlib.sha256(",".join(items).encode()).hexdigest()


def cache_key(parent_id: str, config: dict, extra: list[str] | None = None) -> str:
    """The key a step is cached under: its parent image and the config it commits.

    ``config`` carries the step's Cmd (the ``#(nop)`` text for config-only
    and COPY steps, the ``|N args`` form for RUN), so equal keys mean the
    same instruction with the same resolved args on the same parent.
    """
    step: dict = {"parent": parent_id, "config": config}
    if extra:  # what a RUN's mounts read (bind sources' checksums), never a secret's value
        step["extra"] = extra
    canonical = json.dumps(step, sort_keys=True, separators=(",", ":"))
    return "sha256:" + hashlib.sha256(canonical.encode()).hexdigest()
