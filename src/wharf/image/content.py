"""Content-addressed blob store: ``content/sha256/<hex>``.

Blobs (image configs, layer tars, later manifests) are written to a temp file
under ``content/ingest``, hashed while written, verified against the digest
the caller expects, fsynced and renamed into place. A reader therefore never
sees a partial blob, and a blob's name is always the hash of its bytes.
"""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
from typing import BinaryIO

from wharf.errors import InvalidParameter, NotFound

_DIGEST_RE = re.compile(r"^sha256:([a-f0-9]{64})$")
CHUNK = 1 << 20


class DigestMismatch(InvalidParameter):
    """The bytes written do not hash to the digest they were announced with."""


def sha256_digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def digest_hex(digest: str) -> str:
    """The hex part of a ``sha256:`` digest, refusing anything else (no path tricks)."""
    match = _DIGEST_RE.match(digest)
    if match is None:
        raise InvalidParameter(f"invalid digest: {digest!r}")
    return match.group(1)


class Writer:
    """A blob being written; ``commit`` makes it visible under its digest."""

    def __init__(self, store: "ContentStore") -> None:
        self._store = store
        fd, self._tmp = tempfile.mkstemp(dir=store.ingest_dir)
        self._file: BinaryIO = os.fdopen(fd, "wb")
        self._hash = hashlib.sha256()
        self.size = 0

    def write(self, data: bytes) -> int:
        self._file.write(data)
        self._hash.update(data)
        self.size += len(data)
        return len(data)

    @property
    def path(self) -> str:
        """The temp file, flushed: what was written can be read back before the commit."""
        self._file.flush()
        return self._tmp

    @property
    def digest(self) -> str:
        return "sha256:" + self._hash.hexdigest()

    def commit(self, expected: str | None = None) -> str:
        """Verify against ``expected`` (when given), then rename into place."""
        digest = self.digest
        try:
            if expected is not None and expected != digest:
                raise DigestMismatch(f"digest mismatch: expected {expected}, got {digest}")
            self._file.flush()
            os.fsync(self._file.fileno())
            self._file.close()
            os.rename(self._tmp, self._store.path(digest))
        except BaseException:
            self.abort()
            raise
        return digest

    def abort(self) -> None:
        if not self._file.closed:
            self._file.close()
        try:
            os.unlink(self._tmp)
        except FileNotFoundError:
            pass

    def __enter__(self) -> "Writer":
        return self

    def __exit__(self, *exc: object) -> None:
        self.abort()


class ContentStore:
    def __init__(self, root: str) -> None:
        self.blobs_dir = os.path.join(root, "sha256")
        self.ingest_dir = os.path.join(root, "ingest")
        os.makedirs(self.blobs_dir, exist_ok=True)
        os.makedirs(self.ingest_dir, exist_ok=True)
        for stale in os.listdir(self.ingest_dir):  # left by a crash mid-write
            os.unlink(os.path.join(self.ingest_dir, stale))

    def path(self, digest: str) -> str:
        return os.path.join(self.blobs_dir, digest_hex(digest))

    def writer(self) -> Writer:
        return Writer(self)

    def put(self, data: bytes, expected: str | None = None) -> str:
        with self.writer() as w:
            w.write(data)
            return w.commit(expected)

    def exists(self, digest: str) -> bool:
        return os.path.exists(self.path(digest))

    def get(self, digest: str) -> bytes:
        try:
            with open(self.path(digest), "rb") as f:
                return f.read()
        except FileNotFoundError:
            raise NotFound(f"content {digest} not found") from None

    def size(self, digest: str) -> int:
        try:
            return os.path.getsize(self.path(digest))
        except FileNotFoundError:
            raise NotFound(f"content {digest} not found") from None

    def delete(self, digest: str) -> None:
        try:
            os.unlink(self.path(digest))
        except FileNotFoundError:
            pass

    def digests(self) -> list[str]:
        return ["sha256:" + name for name in os.listdir(self.blobs_dir) if _DIGEST_RE.match("sha256:" + name)]
