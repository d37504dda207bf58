"""Tar-split: a layer's tar rebuilt byte for byte from its unpacked files.

Docker keeps each layer once, unpacked, and rebuilds its tar (for push, save
and verification) from what it recorded at unpack: the tar's own header
blocks, padding and end blocks verbatim, and for each regular file only its
path in the layer and its size, since its bytes are in the layer. Wharf does
the same. The rebuilt tar hashes to the layer's diff ID unless the layer was
changed since; ``VerifiedReader`` checks that as it streams.

The file (``tar-split.gz`` beside the layer's ``diff``) is a gzip stream of::

    b"R" <u32 n> <n bytes>                   bytes of the tar as they were
    b"F" <u16 n> <n bytes path> <u64 size>   ``size`` bytes of the layer's file ``path``

A tar whose files cannot give its bytes back (one that names a path twice,
whites out a file it wrote itself, or holds GNU sparse entries; legal but
rare) is not splittable: the recorder notices at the member that would
overwrite, before it is unpacked, rebuilds the tar so far from what it
recorded and the files still intact, and from then on hands every byte to
``spill``: the store keeps that layer's tar as a blob instead. No other
layer's tar is ever written out whole.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import stat
import struct
import tarfile
from typing import BinaryIO, Callable, Iterator, NamedTuple

from wharf.errors import WharfError
from wharf.image.archive import WHITEOUT_META_PREFIX, WHITEOUT_PREFIX, clean_name

FILENAME = "tar-split.gz"
_CHUNK = 1 << 20
_RAW, _FILE = b"R", b"F"
_U16, _U32, _U64 = struct.Struct(">H"), struct.Struct(">I"), struct.Struct(">Q")
_FILE_TYPES = (tarfile.REGTYPE, tarfile.AREGTYPE, tarfile.CONTTYPE)


class LayerCorrupt(WharfError):
    """A layer's content no longer hashes to its diff ID (Docker's wording)."""

    def __init__(self, diff_id: str) -> None:
        super().__init__(f"could not verify layer data for: {diff_id}. This may be because internal files in "
                         "the layer store were modified. Re-pulling or rebuilding this image may resolve the issue")
        self.diff_id = diff_id


#: where the whole tar goes once it turns out unsplittable: returns its ``write``
Spill = Callable[[], Callable[[bytes], object]]


class Recorder:
    """Writes the records of a tar stream to ``out`` (opened for reading too).

    ``feed`` gets every byte of the (uncompressed) tar in order; ``member`` each
    member as tarfile parses it, before its data is read (or unpacked into
    ``diff_dir``). Bytes read ahead of a header's parsing stay pending until the
    member says whether they are its file data (left out: the layer keeps them)
    or more of the tar (kept). Without ``spill``, an unsplittable tar only ends
    the recording (its caller has the tar).
    """

    def __init__(self, out: BinaryIO, spill: Spill | None = None, diff_dir: str = "") -> None:
        self._file = out
        self._spill = spill
        self._diff_dir = diff_dir
        self._spilled: Callable[[bytes], object] | None = None
        self._out = gzip.GzipFile(fileobj=out, mode="wb", compresslevel=6, mtime=0)
        self._pending = bytearray()  # unclassified bytes, from stream offset _pos
        self._pos = 0
        self._until = 0  # bytes before this offset are classified ...
        self._skipping = False  # ... as file data (True) or as tar (False)
        self._files: set[str] = set()  # paths whose bytes the layer must give back
        self._dirs: set[str] = set()  # their parent directories
        self.splittable = True

    def feed(self, data: bytes | memoryview) -> None:
        if not self.splittable:
            if self._spilled is not None:
                self._spilled(data)  # type: ignore[arg-type]
            return
        view = memoryview(data)
        if self._pos < self._until:  # nothing is pending then: the member was parsed first
            n = min(self._until - self._pos, len(view))
            if not self._skipping:
                self._raw(view[:n])
            self._pos += n
            view = view[n:]
        self._pending += view

    def member(self, member: tarfile.TarInfo) -> None:
        """Classify ``member``'s data; a member that overwrites a recorded file ends splitting."""
        if not self.splittable:
            return
        rel = clean_name(member.name)
        if member.sparse is not None or member.type == tarfile.GNUTYPE_SPARSE or self._overwrites(rel, member):
            self._give_up()
            return
        start = member.offset_data
        self._raw_pending(start - self._pos)
        base = rel.rpartition("/")[2]
        is_file = member.type in _FILE_TYPES and member.size > 0 and not base.startswith(WHITEOUT_PREFIX)
        if is_file:
            path = os.fsencode(rel)
            self._out.write(_FILE + _U16.pack(len(path)) + path + _U64.pack(member.size))
            self._files.add(rel)
            parent = rel.rpartition("/")[0]
            while parent and parent not in self._dirs:
                self._dirs.add(parent)
                parent = parent.rpartition("/")[0]
        self._until, self._skipping = start + member.size, is_file
        n = min(self._until - self._pos, len(self._pending))
        if not is_file:
            self._raw(memoryview(self._pending)[:n])
        del self._pending[:n]
        self._pos += n

    def _overwrites(self, rel: str, member: tarfile.TarInfo) -> bool:
        """Whether unpacking ``member`` removes or replaces a file recorded earlier."""
        parent, _, base = rel.rpartition("/")
        if base.startswith(WHITEOUT_META_PREFIX):
            return False  # opaque markers only set an xattr
        if base.startswith(WHITEOUT_PREFIX):
            target = f"{parent}/{base[len(WHITEOUT_PREFIX):]}".lstrip("/")
            return target in self._files or target in self._dirs
        return rel in self._files or (rel in self._dirs and not member.isdir())

    def _give_up(self) -> None:
        """The tar is not splittable: the store keeps it whole, starting with the part
        already seen (rebuilt now, while the files it names are still intact)."""
        self.splittable = False
        self._out.close()
        if self._spill is not None:
            self._spilled = self._spill()
            self._file.flush()
            self._file.seek(0)
            for chunk in rebuild(self._file, self._diff_dir, ""):
                self._spilled(bytes(chunk))
            self._spilled(bytes(self._pending))
        self._pending.clear()

    def finish(self) -> None:
        """Record what follows the last member (end blocks, padding) and close."""
        if self.splittable:
            self._raw_pending(len(self._pending))
        self._out.close()

    def _raw_pending(self, n: int) -> None:
        if n > 0:
            self._raw(memoryview(self._pending)[:n])
            del self._pending[:n]
            self._pos += n

    def _raw(self, data: memoryview) -> None:
        if len(data):
            self._out.write(_RAW + _U32.pack(len(data)))
            self._out.write(data)


def record(tar: BinaryIO, out: BinaryIO) -> bool:
    """Record the tar-split of a whole tar read from ``tar`` (no unpacking); whether it splits."""
    recorder = Recorder(out)

    class Tee:
        def read(self, n: int = -1) -> bytes:
            data = tar.read(n)
            recorder.feed(data)
            return data
    try:
        for member in tarfile.open(fileobj=Tee(), mode="r|", bufsize=_CHUNK):  # type: ignore[call-overload]
            recorder.member(member)
        while Tee().read(_CHUNK):  # the end blocks and whatever follows them
            pass
    except (tarfile.TarError, WharfError):
        return False
    finally:
        recorder.finish()
    return recorder.splittable


class Record(NamedTuple):
    raw: bytes  # the tar's own bytes, or b"" for a file's
    path: str  # the file in the layer ("" for raw bytes)
    size: int


def records(split: BinaryIO) -> Iterator[Record]:
    """The records of a tar-split file, in tar order."""
    with gzip.GzipFile(fileobj=split, mode="rb") as f:
        while kind := f.read(1):
            if kind == _RAW:
                (n,) = _U32.unpack(_exact(f, 4))
                yield Record(_exact(f, n), "", n)
            elif kind == _FILE:
                (n,) = _U16.unpack(_exact(f, 2))
                path = os.fsdecode(_exact(f, n))
                yield Record(b"", path, _U64.unpack(_exact(f, 8))[0])
            else:
                raise WharfError(f"tar-split: unknown record {kind!r}")


def _exact(f: BinaryIO, n: int) -> bytes:
    data = f.read(n)
    if len(data) != n:
        raise WharfError("tar-split: truncated")
    return data


def rebuild(split: BinaryIO, diff_dir: str, diff_id: str, offset: int = 0) -> Iterator[bytes | memoryview]:
    """The tar a tar-split records, from ``offset``, its files read from ``diff_dir``;
    LayerCorrupt (naming ``diff_id``) when a file is missing or resized."""
    for record in records(split):
        if offset >= record.size:
            offset -= record.size
            continue
        if record.path:
            yield from _file(diff_dir, diff_id, record.path, record.size, offset)
        else:
            yield memoryview(record.raw)[offset:]
        offset = 0


def _file(diff_dir: str, diff_id: str, rel: str, size: int, offset: int) -> Iterator[bytes]:
    try:
        fd = os.open(os.path.join(diff_dir, rel), os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError:
        raise LayerCorrupt(diff_id) from None
    with open(fd, "rb") as f:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode) or st.st_size != size:
            raise LayerCorrupt(diff_id)
        f.seek(offset)
        left = size - offset
        while left > 0:
            chunk = f.read(min(_CHUNK, left))
            if not chunk:
                raise LayerCorrupt(diff_id)
            left -= len(chunk)
            yield chunk


class LayerTar:
    """A layer's tar as it was unpacked: from its tar-split and files, or (a tar the
    layer could not be split from, or a store made before tar-split) from its blob.

    Its files are opened as they are read: whoever reads holds the layer
    (``ImageStore.hold``) so that no ``rmi`` removes them meanwhile.
    """

    def __init__(self, diff_id: str, diff_dir: str, split_path: str | None, blob_path: str | None) -> None:
        self.diff_id = diff_id
        self._diff_dir = diff_dir
        self._split = split_path
        self._blob = blob_path
        self._size: int | None = None

    @property
    def size(self) -> int:
        """The tar's length, from the records alone (no file is read)."""
        if self._size is None:
            if self._split is not None:
                with open(self._split, "rb") as f:
                    self._size = sum(r.size for r in records(f))
            else:
                assert self._blob is not None
                self._size = os.path.getsize(self._blob)
        return self._size

    def chunks(self, offset: int = 0) -> Iterator[bytes | memoryview]:
        """The tar's bytes from ``offset``; LayerCorrupt when a file is missing or resized."""
        if self._split is None:
            assert self._blob is not None
            with open(self._blob, "rb") as f:
                f.seek(offset)
                while chunk := f.read(_CHUNK):
                    yield chunk
            return
        with open(self._split, "rb") as split:
            yield from rebuild(split, self._diff_dir, self.diff_id, offset)

    def open(self, offset: int = 0) -> "VerifiedReader":
        return VerifiedReader(self, offset)

    def verify(self) -> None:
        """Rebuild the whole tar and check it against the diff ID (LayerCorrupt if not)."""
        with self.open() as f:
            while f.read(_CHUNK):
                pass


class VerifiedReader:
    """``read(n)`` over a layer's tar, exactly ``n`` bytes until its end; read from
    the start, its digest is checked as the last byte is handed out, so a copy
    of ``size`` bytes (tarfile's, an upload's) fails instead of ending corrupt."""

    def __init__(self, tar: LayerTar, offset: int = 0) -> None:
        self._tar = tar
        self._size = tar.size
        self._pos = offset
        self._chunks = tar.chunks(offset)
        self._buf = memoryview(b"")
        self._hash = hashlib.sha256() if offset == 0 else None
        self._started = False

    def seek(self, offset: int, whence: int = os.SEEK_SET) -> int:
        """To anywhere before the first read (an upload's chunk starts at its offset), else nowhere."""
        target = offset if whence == os.SEEK_SET else self._pos + offset
        if target != self._pos:
            if self._started:
                raise OSError(f"layer {self._tar.diff_id}: can only be read forwards")
            self._chunks.close()  # type: ignore[attr-defined]
            self._chunks, self._pos = self._tar.chunks(target), target
            self._hash = hashlib.sha256() if target == 0 else None
        return self._pos

    def read(self, n: int = -1) -> bytes:
        want = self._size - self._pos if n < 0 else min(n, self._size - self._pos)
        self._started = True
        parts: list[bytes] = []
        while want > 0:
            if not self._buf:
                chunk = next(self._chunks, None)
                if chunk is None:
                    raise LayerCorrupt(self._tar.diff_id)  # shorter than its records say
                self._buf = memoryview(chunk)
            part = self._buf[:want]
            self._buf = self._buf[len(part):]
            parts.append(bytes(part))
            want -= len(part)
            self._pos += len(part)
            if self._hash is not None:
                self._hash.update(part)
        if self._hash is not None and self._pos == self._size:
            if "sha256:" + self._hash.hexdigest() != self._tar.diff_id:
                raise LayerCorrupt(self._tar.diff_id)
            self._hash = None  # checked once
        return b"".join(parts)

    def close(self) -> None:
        self._chunks.close()  # type: ignore[attr-defined]

    def __enter__(self) -> "VerifiedReader":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
