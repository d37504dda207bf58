"""The registry's filesystem store under --root.

Layout (distribution's idea, flattened)::

    blobs/<alg>/<hex>                                 content, by digest, shared by all repositories
    uploads/<uuid>/repo, data                         an upload in progress (never visible as a blob)
    repositories/<name>/_layers/<alg>/<hex>           link: this blob belongs to the repository
    repositories/<name>/_manifests/revisions/<alg>/<hex>   link (holds the media type)
    repositories/<name>/_manifests/tags/<tag>         the digest the tag points at
    repositories/<name>/_referrers/<alg>/<subject hex>/<alg>-<hex>   a referrer's descriptor (JSON)

A blob appears only by ``rename`` of a fully written, fsynced and verified
file, and every link by an atomic replace, so a ``kill -9`` at any moment
leaves at worst an orphan upload directory, never a torn blob or link.
Repository-name components cannot begin with ``_``, so the ``_layers`` style
directories never collide with a nested repository. All methods block: the
app calls them through ``asyncio.to_thread``.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
import uuid as uuidlib
from typing import Any

from wharf.registry.server.errors import RegistryError
from wharf.registry.server.names import Digest, is_tag, parse_digest

_UUID_RE = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def write_atomic(path: str, data: bytes) -> None:
    """Replace ``path`` with ``data``: temp file in the same directory, fsync, rename."""
    directory = os.path.dirname(path)
    os.makedirs(directory, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=directory)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.rename(tmp, path)
    except BaseException:
        _unlink(tmp)
        raise


def _unlink(path: str) -> bool:
    try:
        os.unlink(path)
        return True
    except FileNotFoundError:
        return False


def _read(path: str) -> bytes | None:
    try:
        with open(path, "rb") as f:
            return f.read()
    except (FileNotFoundError, NotADirectoryError):
        return None


class Storage:
    def __init__(self, root: str) -> None:
        self.root = os.path.abspath(root)
        for part in ("blobs", "uploads", "repositories"):
            os.makedirs(os.path.join(self.root, part), exist_ok=True)

    # -- paths -------------------------------------------------------------
    def blob_path(self, digest: Digest) -> str:
        return os.path.join(self.root, "blobs", digest.algorithm, digest.hex)

    def repo_path(self, repo: str, *parts: str) -> str:
        return os.path.join(self.root, "repositories", repo, *parts)

    def _layer_link(self, repo: str, digest: Digest) -> str:
        return self.repo_path(repo, "_layers", digest.algorithm, digest.hex)

    def _revision(self, repo: str, digest: Digest) -> str:
        return self.repo_path(repo, "_manifests", "revisions", digest.algorithm, digest.hex)

    def _tag(self, repo: str, tag: str) -> str:
        return self.repo_path(repo, "_manifests", "tags", tag)

    def _referrers_dir(self, repo: str, subject: Digest) -> str:
        return self.repo_path(repo, "_referrers", subject.algorithm, subject.hex)

    # -- blobs -------------------------------------------------------------
    def blob_size(self, repo: str, digest: Digest) -> int | None:
        """Size of a blob the repository holds, or None (absent, or only in another repository)."""
        if not os.path.exists(self._layer_link(repo, digest)):
            return None
        try:
            return os.path.getsize(self.blob_path(digest))
        except FileNotFoundError:
            return None

    def has_blob(self, digest: Digest) -> bool:
        return os.path.exists(self.blob_path(digest))

    def link_blob(self, repo: str, digest: Digest) -> None:
        write_atomic(self._layer_link(repo, digest), b"")

    def unlink_blob(self, repo: str, digest: Digest) -> bool:
        return _unlink(self._layer_link(repo, digest))

    def commit_blob(self, repo: str, src: str, digest: Digest) -> None:
        """Make a verified file the blob ``digest`` (fsync then rename) and link it to ``repo``."""
        with open(src, "rb+") as f:
            os.fsync(f.fileno())
        target = self.blob_path(digest)
        os.makedirs(os.path.dirname(target), exist_ok=True)
        os.rename(src, target)
        self.link_blob(repo, digest)

    # -- uploads -----------------------------------------------------------
    def new_upload(self, repo: str) -> str:
        upload_id = str(uuidlib.uuid4())
        directory = os.path.join(self.root, "uploads", upload_id)
        os.makedirs(directory)
        with open(os.path.join(directory, "data"), "wb"):
            pass
        write_atomic(os.path.join(directory, "repo"), repo.encode())
        return upload_id

    def upload_data(self, repo: str, upload_id: str) -> str:
        """The data file of ``repo``'s upload, or BLOB_UPLOAD_UNKNOWN."""
        directory = os.path.join(self.root, "uploads", upload_id)
        if not _UUID_RE.fullmatch(upload_id) or _read(os.path.join(directory, "repo")) != repo.encode():
            raise RegistryError("BLOB_UPLOAD_UNKNOWN", detail={"uuid": upload_id})
        return os.path.join(directory, "data")

    def drop_upload(self, upload_id: str) -> None:
        if _UUID_RE.fullmatch(upload_id):
            shutil.rmtree(os.path.join(self.root, "uploads", upload_id), ignore_errors=True)

    def upload_ids(self) -> list[str]:
        return [n for n in os.listdir(os.path.join(self.root, "uploads")) if _UUID_RE.fullmatch(n)]

    # -- manifests ---------------------------------------------------------
    def put_manifest(self, repo: str, body: bytes, digest: Digest, media_type: str,
                     tags: list[str], subject: Digest | None, descriptor: dict[str, Any]) -> None:
        """Store a validated manifest: blob, revision link, referrer entry, then its tags."""
        if not self.has_blob(digest):
            write_atomic(self.blob_path(digest), body)
        write_atomic(self._revision(repo, digest), media_type.encode())
        if subject is not None:
            write_atomic(os.path.join(self._referrers_dir(repo, subject), f"{digest.algorithm}-{digest.hex}"),
                         json.dumps(descriptor).encode())
        for tag in tags:
            write_atomic(self._tag(repo, tag), str(digest).encode())

    def resolve(self, repo: str, reference: str) -> Digest | None:
        """The digest a tag or digest reference names in ``repo``, if it has that manifest."""
        if is_tag(reference):
            text = _read(self._tag(repo, reference))
            if text is None:
                return None
            digest = parse_digest(text.decode())
        else:
            digest = parse_digest(reference)
        return digest if os.path.exists(self._revision(repo, digest)) else None

    def read_manifest(self, repo: str, digest: Digest) -> tuple[bytes, str] | None:
        media_type = _read(self._revision(repo, digest))
        body = _read(self.blob_path(digest)) if media_type is not None else None
        return None if body is None or media_type is None else (body, media_type.decode())

    def delete_manifest(self, repo: str, digest: Digest, subject: Digest | None) -> bool:
        """Remove a revision, every tag that points at it, and its referrer entry."""
        for tag in self.tags(repo) or []:
            if _read(self._tag(repo, tag)) == str(digest).encode():
                _unlink(self._tag(repo, tag))
        if subject is not None:
            _unlink(os.path.join(self._referrers_dir(repo, subject), f"{digest.algorithm}-{digest.hex}"))
        return _unlink(self._revision(repo, digest))

    def delete_tag(self, repo: str, tag: str) -> bool:
        return _unlink(self._tag(repo, tag))

    def revisions(self, repo: str) -> list[Digest]:
        base = self.repo_path(repo, "_manifests", "revisions")
        found = []
        for algorithm in _listdir(base):
            found += [Digest(algorithm, h) for h in _listdir(os.path.join(base, algorithm))]
        return found

    # -- listings ----------------------------------------------------------
    def exists(self, repo: str) -> bool:
        return any(os.path.isdir(self.repo_path(repo, d)) for d in ("_layers", "_manifests"))

    def tags(self, repo: str) -> list[str] | None:
        """Sorted tags of ``repo``; None when there is no such repository."""
        if not self.exists(repo):
            return None
        return _listdir(self.repo_path(repo, "_manifests", "tags"))

    def repositories(self) -> list[str]:
        base = os.path.join(self.root, "repositories")
        found = []
        for directory, subdirs, _ in os.walk(base):
            if any(d in subdirs for d in ("_layers", "_manifests")):
                found.append(os.path.relpath(directory, base))
            subdirs[:] = [d for d in subdirs if not d.startswith(("_", "."))]
        return sorted(found)

    def referrers(self, repo: str, subject: Digest) -> list[dict[str, Any]]:
        directory = self._referrers_dir(repo, subject)
        found = []
        for name in _listdir(directory):
            data = _read(os.path.join(directory, name))
            if data is not None:
                found.append(json.loads(data))
        return found

    def blob_digests(self) -> list[Digest]:
        base = os.path.join(self.root, "blobs")
        return [Digest(a, h) for a in _listdir(base) for h in _listdir(os.path.join(base, a))]


def _listdir(path: str) -> list[str]:
    """Sorted entries of ``path`` without temp files; [] when it does not exist."""
    try:
        return sorted(n for n in os.listdir(path) if not n.startswith("."))
    except (FileNotFoundError, NotADirectoryError):
        return []
