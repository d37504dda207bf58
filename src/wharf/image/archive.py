"""Unpacking untrusted layer tars into a directory an overlay mount can stack.

Layer archives come from outside (imports, registries, ``load``), so each
entry is checked before anything is written: no absolute names, no ``..``,
no write through a symlink (which could point anywhere on the host), no hard
link to a path outside the layer or through a symlink, no device nodes. The
first offending entry aborts the whole extraction with ``UnsafeArchive``;
the caller unpacks into a scratch directory and throws it away on failure.

Docker's whiteouts (``.wh.<name>``, ``.wh..wh..opq``) become what overlayfs
understands: a 0/0 character device and the ``trusted.overlay.opaque``
xattr (``user.overlay.opaque`` in a rootless daemon's user namespace).
Compressed archives (gzip, zstd, bzip2, xz) are detected by magic
number, as Docker's ``DetectCompression``; gzip is read with zlib-ng (about
2.5x the stdlib's speed), on a thread of its own that also hashes. The tar is
parsed in place (``wharf.image.tarstream``): each file is written straight
from the chunks it arrived in, never copied through tarfile's buffers (which
only takes over at a GNU sparse file, a rare thing it can unpack). The digest
returned (the layer's diff ID) is that of the uncompressed tar.
"""

from __future__ import annotations

import bz2
import hashlib
import io
import lzma
import os
import queue
import shutil
import stat
import tarfile
import threading
from dataclasses import dataclass
from typing import BinaryIO, Callable, Iterable, Iterator

import zstandard
from zlib_ng import gzip_ng

from wharf.errors import InvalidParameter
from wharf.linux import userns
from wharf.image.tarstream import SparseEntry, TarChunks

WHITEOUT_PREFIX = ".wh."
WHITEOUT_META_PREFIX = ".wh..wh."
WHITEOUT_OPAQUE = ".wh..wh..opq"
#: overlayfs's own marks: trusted.* for the host's root; user.* in a user namespace
#: (rootless), where trusted.* cannot be written and mounts say ``userxattr``.
OVERLAY_XATTR_PREFIX = "user.overlay." if userns.inside() else "trusted.overlay."
OVERLAY_MOUNT_OPTIONS = ",userxattr" if userns.inside() else ""
OPAQUE_XATTR = OVERLAY_XATTR_PREFIX + "opaque"
_KEPT_XATTRS = ("user.", "security.capability")
_CHUNK = 1 << 20
#: chunks read ahead of the tar parser
_AHEAD = 4
_POLL = 0.2


class UnsafeArchive(InvalidParameter):
    """An archive entry would escape the extraction root or create a device."""


@dataclass
class Extracted:
    diff_id: str  # sha256 of the uncompressed tar stream
    size: int  # bytes of regular file content (hard links counted once)


class _Prefixed(io.RawIOBase):
    """A stream with bytes already read from it put back in front."""

    def __init__(self, head: bytes, rest: BinaryIO) -> None:
        self._head, self._rest = head, rest

    def readable(self) -> bool:
        return True

    def readinto(self, buf: memoryview) -> int:  # type: ignore[override]
        if self._head:
            n = min(len(buf), len(self._head))
            buf[:n], self._head = self._head[:n], self._head[n:]
            return n
        data = self._rest.read(len(buf))
        buf[: len(data)] = data
        return len(data)


class _ReadAhead:
    """Reads and hashes a stream on a thread of its own, a few chunks ahead of its reader,
    so that decompression and the diff ID's hash run beside the tar parsing and the file
    writes (zlib, zstd and hashlib release the GIL). ``read(n)`` may return fewer bytes
    (tarfile's stream reads until it has what it wants); ``close`` stops the thread."""

    def __init__(self, raw: BinaryIO) -> None:
        self._raw = raw
        self.hash = hashlib.sha256()
        self._ready: queue.Queue[bytes | BaseException] = queue.Queue(_AHEAD)
        self._left = b""
        self._ended = False
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="wharf-layer-read", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            while not self._stop.is_set():
                chunk = self._raw.read(_CHUNK)
                self.hash.update(chunk)
                self._put(chunk)
                if not chunk:
                    return
        except BaseException as e:  # noqa: BLE001 - handed to the reader
            self._put(e)

    def _put(self, item: bytes | BaseException) -> None:
        while not self._stop.is_set():
            try:
                self._ready.put(item, timeout=_POLL)
                return
            except queue.Full:
                continue

    def read(self, n: int = -1) -> bytes:
        if not self._left and not self._ended:
            item = self._ready.get()
            if isinstance(item, BaseException):
                raise item
            self._left, self._ended = item, not item
        if 0 <= n < len(self._left):
            data, self._left = self._left[:n], self._left[n:]
        else:  # the whole chunk, not a copy of it
            data, self._left = self._left, b""
        return data

    def close(self) -> None:
        self._stop.set()
        self._thread.join()


class _Teeing:
    """Hands every byte tarfile reads to ``tee`` (the tar-split recorder), in step with it."""

    def __init__(self, raw: _ReadAhead, tee: Callable[[bytes], object] | None) -> None:
        self._raw, self._tee = raw, tee

    def read(self, n: int = -1) -> bytes:
        data = self._raw.read(n)
        if self._tee is not None:
            self._tee(data)
        return data

    def drain(self) -> None:
        while self.read(_CHUNK):
            pass


#: an entry and its data (only a regular file's is read)
Entry = tuple[tarfile.TarInfo, Iterable[bytes | memoryview]]
#: (st_dev, st_ino) of each regular file unpacked -> sha256 hex of its content
ContentDigests = dict[tuple[int, int], str]
_ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
_MAGICS = (b"\x1f\x8b", _ZSTD_MAGIC, b"BZh", b"\xfd7zXZ\x00")


def is_opaque(path: str) -> bool:
    """Whether overlayfs's opaque mark (of this daemon's namespace) hides what is below ``path``."""
    try:
        return os.getxattr(path, OPAQUE_XATTR, follow_symlinks=False) == b"y"
    except OSError:
        return False


def is_compressed(head: bytes) -> bool:
    """Whether a stream starting with ``head`` (6 bytes suffice) is gzip, zstd, bzip2 or xz."""
    return head.startswith(_MAGICS)


def decompressed(stream: BinaryIO, head: bytes | None = None) -> BinaryIO:
    """``stream`` itself for a plain tar, else a decompressing reader over it.

    ``head``: its first bytes, already read from it (6 are read otherwise).
    """
    head = stream.read(6) if head is None else head
    raw = io.BufferedReader(_Prefixed(head, stream))
    if head.startswith(b"\x1f\x8b"):
        return gzip_ng.GzipFile(fileobj=raw, mode="rb")  # type: ignore[return-value]
    if head.startswith(_ZSTD_MAGIC):
        return zstandard.ZstdDecompressor().stream_reader(raw, read_across_frames=True)  # type: ignore[return-value]
    if head.startswith(b"BZh"):
        return bz2.BZ2File(raw)  # type: ignore[return-value]
    if head.startswith(b"\xfd7zXZ\x00"):
        return lzma.LZMAFile(raw)  # type: ignore[return-value]
    return raw  # type: ignore[return-value]


def extract_layer(stream: BinaryIO, dest: str, tee: Callable[[bytes], object] | None = None,
                  on_member: Callable[[tarfile.TarInfo], object] | None = None,
                  overlay_marks: bool = True) -> Extracted:
    """Unpack a (possibly compressed) layer tar into the existing empty ``dest``.

    ``tee`` gets every byte of the uncompressed tar, ``on_member`` each member
    before its data is read (what a tar-split recorder needs). Without
    ``overlay_marks`` whiteouts stay empty ``.wh.`` files, for a storage driver
    that applies them itself (vfs: on a data root on overlayfs, a 0/0 device
    made there would vanish into a whiteout of the mount's own)."""
    ahead = _ReadAhead(decompressed(stream))
    try:
        reader = _Teeing(ahead, tee)
        size = _Unpacker(dest, overlay_marks=overlay_marks).run(_layer_entries(reader, on_member))
        reader.drain()  # zero blocks after the end marker are part of the digest
        return Extracted("sha256:" + ahead.hash.hexdigest(), size)
    finally:
        ahead.close()


def extract_entries(entries: Iterable[Entry], dest: str, digests: ContentDigests | None = None) -> int:
    """Unpack entries parsed elsewhere (``wharf.build.context``) with the same checks; returns
    the bytes of file content. With ``digests``, each file's content is hashed as it is written,
    so a caller that needs the checksums never reads the files back."""
    return _Unpacker(dest, digests).run(entries)


def _layer_entries(reader: _Teeing, on_member: Callable[[tarfile.TarInfo], object] | None) -> Iterator[Entry]:
    """The entries of a layer tar, parsed in place; from a GNU sparse file on, by tarfile
    (which unpacks those), starting over from that entry's first header."""
    try:
        for member, data in TarChunks(reader.read, chunk=_CHUNK).entries():
            if on_member is not None:
                on_member(member)
            yield member, data
    except SparseEntry as sparse:
        rest = io.BufferedReader(_Prefixed(sparse.replay, reader), _CHUNK)  # type: ignore[arg-type]
        yield from _tar_entries(tarfile.open(fileobj=rest, mode="r|", bufsize=_CHUNK), on_member)


def _tar_entries(archive: tarfile.TarFile,
                 on_member: Callable[[tarfile.TarInfo], object] | None = None) -> Iterator[Entry]:
    for member in archive:
        if on_member is not None:
            on_member(member)
        yield member, _member_data(archive, member)


def _member_data(archive: tarfile.TarFile, member: tarfile.TarInfo) -> Iterator[bytes]:
    src = archive.extractfile(member)
    while src is not None and (chunk := src.read(_CHUNK)):
        yield chunk


def clean_name(name: str) -> str:
    """The entry's path relative to the root; refuses absolute names and ``..``."""
    if name.startswith("/"):
        raise UnsafeArchive(f'refusing archive entry "{name}": absolute path')
    parts = [p for p in name.split("/") if p not in ("", ".")]
    if ".." in parts:
        raise UnsafeArchive(f'refusing archive entry "{name}": path escapes the root')
    return "/".join(parts)


class _Unpacker:
    def __init__(self, root: str, digests: ContentDigests | None = None, overlay_marks: bool = True) -> None:
        self.root = root
        self.digests = digests
        self.overlay_marks = overlay_marks
        self.is_root = os.geteuid() == 0
        self.size = 0
        self.dirs: list[tuple[str, tarfile.TarInfo]] = []

    def run(self, entries: Iterable[Entry]) -> int:
        try:
            for member, data in entries:
                try:
                    self._entry(member, data)
                except OSError as e:  # e.g. a hard link to a directory
                    raise InvalidParameter(f'failed to extract "{member.name}": {e.strerror}') from None
        except tarfile.TarError as e:
            raise InvalidParameter(f"archive/tar: {e}") from None
        for path, member in reversed(self.dirs):  # children first: their writes touched the parent
            self._metadata(path, member)
        return self.size

    def _entry(self, member: tarfile.TarInfo, data: Iterable[bytes | memoryview]) -> None:
        rel = clean_name(member.name)
        parent, base = os.path.split(rel)
        parent_path = self._ensure_dir(parent, member.name)
        if base.startswith(WHITEOUT_PREFIX) and not self.overlay_marks:  # kept as named
            path = os.path.join(parent_path, base)
            self._clear(path, keep_dir=False)
            os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600))
            return
        if base == WHITEOUT_OPAQUE:
            os.setxattr(parent_path, OPAQUE_XATTR, b"y", follow_symlinks=False)
            return
        if base.startswith(WHITEOUT_META_PREFIX):  # aufs bookkeeping, meaningless here
            return
        if base.startswith(WHITEOUT_PREFIX):
            path = os.path.join(parent_path, base[len(WHITEOUT_PREFIX):])
            self._clear(path, keep_dir=False)
            os.mknod(path, stat.S_IFCHR | 0o000, os.makedev(0, 0))
            return
        if not rel and not member.isdir():
            raise UnsafeArchive(f'refusing archive entry "{member.name}": the root must be a directory')
        path = os.path.join(parent_path, base) if rel else self.root
        if member.ischr() or member.isblk():
            raise UnsafeArchive(f'refusing archive entry "{member.name}": device nodes are not allowed in layers')
        self._clear(path, keep_dir=member.isdir())
        if member.isdir():
            os.makedirs(path, 0o755, exist_ok=True)
            self.dirs.append((path, member))
            return
        if member.isreg():
            self._write_file(data, path)
        elif member.issym():
            os.symlink(member.linkname, path)
        elif member.islnk():
            os.link(self._link_target(member), path, follow_symlinks=False)
            return  # shares the target's inode and metadata
        elif member.isfifo():
            os.mkfifo(path)
        else:
            raise UnsafeArchive(f'refusing archive entry "{member.name}": unsupported type {member.type!r}')
        self._metadata(path, member)

    def _ensure_dir(self, rel: str, name: str) -> str:
        """The directory ``rel`` under the root, created as needed, never via a symlink."""
        path = self.root
        for part in rel.split("/") if rel else ():
            path = os.path.join(path, part)
            try:
                st = os.lstat(path)
            except FileNotFoundError:
                os.mkdir(path, 0o755)
                continue
            if stat.S_ISLNK(st.st_mode):
                raise UnsafeArchive(f'refusing archive entry "{name}": it would be written through a symlink')
            if not stat.S_ISDIR(st.st_mode):
                raise UnsafeArchive(f'refusing archive entry "{name}": a parent is not a directory')
        return path

    def _link_target(self, member: tarfile.TarInfo) -> str:
        rel = clean_name(member.linkname)
        if not rel:
            raise UnsafeArchive(f'refusing hard link "{member.name}": it points at the root')
        parent, base = os.path.split(rel)
        path = os.path.join(self._ensure_dir(parent, member.name), base)
        if not os.path.lexists(path):
            raise UnsafeArchive(f'refusing hard link "{member.name}": target "{member.linkname}" is not in the layer')
        return path

    @staticmethod
    def _clear(path: str, keep_dir: bool) -> None:
        """Make room for an entry that replaces an earlier one of the same name."""
        try:
            st = os.lstat(path)
        except FileNotFoundError:
            return
        if stat.S_ISDIR(st.st_mode):
            if not keep_dir:
                shutil.rmtree(path)
        else:
            os.unlink(path)

    def _write_file(self, data: Iterable[bytes | memoryview], path: str) -> None:
        digest = hashlib.sha256() if self.digests is not None else None
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
        try:
            for chunk in data:
                if digest is not None:
                    digest.update(chunk)
                view = memoryview(chunk)
                while view:
                    view = view[os.write(fd, view):]
                self.size += len(chunk)
            if digest is not None:
                st = os.fstat(fd)
                self.digests[(st.st_dev, st.st_ino)] = digest.hexdigest()  # type: ignore[index]
        finally:
            os.close(fd)

    def _metadata(self, path: str, member: tarfile.TarInfo) -> None:
        # Order matters: chown clears setuid bits and file capabilities.
        if self.is_root:
            os.lchown(path, member.uid, member.gid)
        if not member.issym():
            os.chmod(path, member.mode & 0o7777)
        for key, value in member.pax_headers.items():
            name = key[len("SCHILY.xattr."):]
            if (key.startswith("SCHILY.xattr.") and name.startswith(_KEPT_XATTRS)
                    and not name.startswith(OVERLAY_XATTR_PREFIX)):  # no forged overlay marks
                os.setxattr(path, name, value.encode("utf-8", "surrogateescape"), follow_symlinks=False)
        os.utime(path, (member.mtime, member.mtime), follow_symlinks=False)
