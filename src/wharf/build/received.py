"""The build context as the daemon received it: hashed as it arrives, written out only when needed.

A cached rebuild needs the context's checksums, not its files: unpacking a
20 MB context only to hash it and delete it again was most of the daemon's
work per rebuild. So a context of plain files and directories (each
directory before what is in it, no name twice, no whiteout names) up to
``MEMORY_LIMIT`` bytes of file data is kept as the tar's own data chunks,
each file's sha256 taken as it arrives. The Dockerfile is read, the build
files ``.dockerignore`` excludes are dropped, and COPY sources are resolved
and checksummed from that index; the files are written (by the layer
unpacker, with its checks) only when a step needs them: a COPY or a RUN
bind mount that missed the cache. Any other context (links, devices, a
larger one) is unpacked as it arrives, as before. Checksums are the same
either way (``checksum.entry_hash`` over what the unpacker would have made).
"""

from __future__ import annotations

import errno
import hashlib
import itertools
import os
import posixpath
import stat
import tarfile
import threading
from typing import BinaryIO, Iterator, NamedTuple

from wharf.build import checksum, context, copier
from wharf.errors import NotFound
from wharf.image.archive import WHITEOUT_PREFIX, ContentDigests, Entry, clean_name, extract_entries

#: Bytes of file data a build may hold in memory before its context goes to disk as it arrives.
MEMORY_LIMIT = 64 << 20


class _Held(NamedTuple):
    info: tarfile.TarInfo
    digest: str  # the content's sha256; "" for a directory


class ReceivedContext:
    """The context of one build at ``root`` (an empty directory until the files are needed).

    ``held``: the entries kept in memory by clean relative path, in tar order
    (None: unpacked as it arrived, ``digests`` then has each file's sha256 by inode).
    """

    def __init__(self, root: str, held: dict[str, _Held] | None, data: dict[str, list[memoryview]],
                 digests: ContentDigests) -> None:
        self.root = root
        self._held = held
        self._data: dict[str, list[memoryview]] | None = data if held is not None else None
        self._digests = digests
        self._writing = threading.Lock()
        self._uid, self._gid = (None, None) if os.geteuid() == 0 else (os.geteuid(), os.getegid())

    # -- the copier.Tree the COPY sources resolve in ---------------------------
    def exists(self, rel: str) -> bool:
        assert self._held is not None
        return not rel or rel in self._held

    def paths(self) -> list[str]:
        assert self._held is not None
        listing: dict[str, list[str]] = {}
        for rel in self._held:
            if rel:
                listing.setdefault(posixpath.dirname(rel), []).append(rel)
        out: list[str] = []
        todo = [""]
        while todo:  # os.walk's order: a directory's listing, then each subdirectory's in turn
            names = listing.get(todo.pop(), [])
            dirs = sorted(r for r in names if self._held[r].info.isdir())
            out += dirs + sorted(r for r in names if not self._held[r].info.isdir())
            todo += reversed(dirs)
        return out

    # -- what steps ask -------------------------------------------------------
    def resolve(self, src: str, keyword: str, parents: bool) -> list[copier.Source]:
        """A COPY source in the context (``copier.resolve``), its files on disk or not."""
        return copier.resolve(self.root, src, keyword, parents, self if self._held is not None else None)

    def source_hash(self, rel: str) -> str:
        """``checksum.source_hash`` of a path in the context, from memory while it is there."""
        if self._held is None:
            return checksum.source_hash(self.root, rel, self._digests)
        rel = posixpath.normpath("/" + rel).lstrip("/")
        if rel and rel not in self._held:
            raise FileNotFoundError(errno.ENOENT, os.strerror(errno.ENOENT), os.path.join(self.root, rel))
        if rel and not self._held[rel].info.isdir():
            return checksum.file_hash(self._entry_hash(rel))
        below = rel + "/" if rel else ""
        return checksum.dir_hash([self._entry_hash(r) for r in self._held if r and (r == rel or r.startswith(below))])

    def _entry_hash(self, rel: str) -> str:
        """What ``checksum.path_hash`` finds on disk once the unpacker wrote the entry."""
        info, digest = self._held[rel]  # type: ignore[index]
        kind = stat.S_IFDIR if info.isdir() else stat.S_IFREG
        uid = info.uid if self._uid is None else self._uid
        gid = info.gid if self._gid is None else self._gid
        return checksum.entry_hash(rel, kind | (info.mode & 0o7777), uid, gid, info.size, digest=digest)

    def dockerfile(self, name: str) -> str:
        """The Dockerfile's text (``context.read_dockerfile``'s rules)."""
        if self._held is None or self._data is None:
            return context.read_dockerfile(self.root, name)
        rel = posixpath.normpath("/" + name).lstrip("/")
        if rel not in self._held or not self._held[rel].info.isreg():
            raise NotFound(f"Cannot locate specified Dockerfile: {name}")
        return b"".join(self._data[rel]).decode("utf-8", "surrogateescape")

    def drop_ignored_build_files(self, dockerfile: str) -> None:
        """``.dockerignore`` and the Dockerfile leave the context if ``.dockerignore`` excludes them."""
        ignore = self._held.get(context.DOCKERIGNORE) if self._held is not None else None
        if self._data is None or (ignore is not None and ignore.info.isdir()):
            self.to_disk()  # the files are out (or what the unpacked context does with that is the rule)
        if self._held is None or self._data is None:
            context.remove_ignored_build_files(self.root, dockerfile)
            return
        if ignore is None:
            return
        for name in context.ignored_build_files(b"".join(self._data[context.DOCKERIGNORE]), dockerfile):
            rel = posixpath.normpath("/" + name).lstrip("/")
            if rel in self._held and not self._held[rel].info.isdir():
                del self._held[rel], self._data[rel]

    def files(self) -> str:
        """The context's directory, its files written there first if they are still in memory."""
        with self._writing:  # two bind mounts of one step may ask at once
            if self._data is not None and self._held is not None:
                data = self._data
                extract_entries(((held.info, iter(data[rel])) for rel, held in self._held.items()), self.root)
                self._data = None  # the index stays: checksums come from it as before
        return self.root

    def to_disk(self) -> None:
        """Write the files out and take checksums from disk from now on (the tree will change:
        named contexts move aside)."""
        if self._held is None:
            return
        self.files()
        for rel, held in self._held.items():
            if held.digest:
                st = os.lstat(os.path.join(self.root, rel))
                self._digests[(st.st_dev, st.st_ino)] = held.digest
        self._held = None


def receive(stream: BinaryIO, root: str) -> ReceivedContext:
    """Read a context tar (``context.context_entries``), keeping it in memory if it is plain and
    small enough, else unpacking it into the empty directory ``root`` as it arrives."""
    held: dict[str, _Held] = {}
    data: dict[str, list[memoryview]] = {}
    size = 0
    entries = context.context_entries(stream)
    for info, chunks in entries:
        rel = clean_name(info.name)
        if not _plain(info, rel, held) or size + info.size > MEMORY_LIMIT:
            digests: ContentDigests = {}
            replay: Iterator[Entry] = ((h.info, iter(data[r])) for r, h in held.items())
            extract_entries(itertools.chain(replay, [(info, chunks)], entries), root, digests)
            return ReceivedContext(root, None, {}, digests)
        pieces = list(chunks)
        digest = ""
        if info.isreg():
            h = hashlib.sha256()
            for piece in pieces:
                h.update(piece)
            digest, size = h.hexdigest(), size + info.size
        held[rel], data[rel] = _Held(info, digest), pieces
    return ReceivedContext(root, held, data, {})


def _plain(info: tarfile.TarInfo, rel: str, held: dict[str, _Held]) -> bool:
    """An entry the unpacker would simply create: a file or directory, new, in a directory
    the tar made before, not a whiteout."""
    if not (info.isdir() or (info.isreg() and rel)) or rel in held:
        return False
    parent = posixpath.dirname(rel)
    if parent and not (parent in held and held[parent].info.isdir()):
        return False
    return not any(part.startswith(WHITEOUT_PREFIX) for part in rel.split("/"))
