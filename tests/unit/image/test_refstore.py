"""A tag store file that is not what it should be never stops the daemon, nor is silently lost."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from wharf.image.reference import parse_tagged
from wharf.image.refstore import ReferenceStore

ID = "sha256:" + "ab" * 32


@pytest.mark.parametrize("content", [b"", b"\0\0\0", b"not json", b'{"Repositories": []}', b"[1, 2]",
                                     b'{"Repositories": {"docker.io/library/x": "y"}}'])
def test_unreadable_file_is_renamed_aside_and_the_store_starts_empty(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "repositories.json"
    path.write_bytes(content)
    store = ReferenceStore(str(path))
    assert store.entries() == []
    [backup] = tmp_path.glob("repositories.json.broken-*")
    assert backup.read_bytes() == content
    assert json.loads(path.read_text()) == {"Repositories": {}}


def test_truncated_file_keeps_every_pair_still_readable(tmp_path: Path) -> None:
    path = tmp_path / "repositories.json"
    good = ReferenceStore(str(path))
    good.add(parse_tagged("busybox:latest"), ID)
    good.add(parse_tagged("localhost:5000/ns/app:1"), ID)
    text = path.read_text()
    path.write_text(text[:-3])  # the closing braces lost: every pair is still there
    store = ReferenceStore(str(path))
    assert sorted(str(r) for r, _ in store.entries()) == ["docker.io/library/busybox:latest",
                                                          "localhost:5000/ns/app:1"]
    assert store.get(parse_tagged("busybox")) == ID
    assert [b.read_text() for b in tmp_path.glob("repositories.json.broken-*")] == [text[:-3]]
