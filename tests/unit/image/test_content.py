"""The content store keeps blobs under their digest and refuses mismatches."""

import os
from pathlib import Path

import pytest

from wharf.errors import InvalidParameter
from wharf.image.content import ContentStore, DigestMismatch, sha256_digest


def test_put_get_roundtrip(tmp_path: Path) -> None:
    store = ContentStore(str(tmp_path))
    digest = store.put(b"hello")
    assert digest == sha256_digest(b"hello")
    assert store.get(digest) == b"hello"
    assert Path(store.path(digest)).name == digest.split(":")[1]


def test_wrong_digest_is_refused_and_leaves_nothing(tmp_path: Path) -> None:
    store = ContentStore(str(tmp_path))
    with pytest.raises(DigestMismatch, match="digest mismatch"):
        store.put(b"hello", expected=sha256_digest(b"other"))
    assert store.digests() == []
    assert os.listdir(store.ingest_dir) == []


def test_digest_names_cannot_escape(tmp_path: Path) -> None:
    store = ContentStore(str(tmp_path))
    with pytest.raises(InvalidParameter):
        store.path("sha256:../../etc/passwd")


def test_stale_ingest_files_are_cleared_on_open(tmp_path: Path) -> None:
    store = ContentStore(str(tmp_path))
    Path(store.ingest_dir, "half-written").write_bytes(b"x")
    ContentStore(str(tmp_path))
    assert os.listdir(store.ingest_dir) == []
