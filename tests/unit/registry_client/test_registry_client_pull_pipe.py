"""A layer goes from its download to its unpack in memory: a lagging unpack holds the
download back instead of letting it fill memory, and a failed unpack stops it."""

from __future__ import annotations

import asyncio
import gzip
import hashlib
import io
import os
import tarfile
from pathlib import Path
from typing import Any, Callable

import pytest

from wharf.image import manifest as mf
from wharf.image.archive import UnsafeArchive
from wharf.image.store import ImageStore
from wharf.registry.client import pull
from wharf.registry.client.sources import BlobSources

CHUNK = 64 << 10


def gzip_layer(files: dict[str, bytes]) -> tuple[bytes, str]:
    """(the gzip blob, the diff ID) of a tar of ``files``."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size, info.mode = len(data), 0o644
            tar.addfile(info, io.BytesIO(data))
    raw = buf.getvalue()
    return gzip.compress(raw, 1), "sha256:" + hashlib.sha256(raw).hexdigest()


class Registry:
    """Serves one blob in CHUNK pieces and counts the pieces ``write`` made wait."""

    def __init__(self, blob: bytes) -> None:
        self.blob = blob
        self.held_back = 0
        self.sent = 0

    async def download(self, desc: mf.Descriptor, write: Callable[[bytes], Any],
                       on_bytes: Any = None, on_retry: Any = None) -> None:
        for i in range(0, len(self.blob), CHUNK):
            written = asyncio.ensure_future(write(self.blob[i:i + CHUNK]))
            await asyncio.sleep(0)  # one turn of the loop: a write with room is done by then
            self.held_back += not written.done()
            await written
            self.sent += 1


def fetch(tmp_path: Path, registry: Registry, diff_id: str) -> tuple[ImageStore, Any]:
    store = ImageStore(str(tmp_path / "image"))
    puller = pull.Puller(store, None, lambda m: None, BlobSources(str(tmp_path / "sources")),  # type: ignore[arg-type]
                         lambda: "", 3)
    desc = mf.Descriptor(mf.DOCKER_LAYER_GZIP, "sha256:" + hashlib.sha256(registry.blob).hexdigest(),
                         len(registry.blob))
    return store, asyncio.run(puller._fetch_layers(registry, [desc], [diff_id]))  # type: ignore[arg-type]


def test_a_layer_many_times_the_limit_arrives_whole(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(pull, "PIPE_LIMIT", 4 * CHUNK)
    files = {f"f{i}": os.urandom(1 << 20) for i in range(8)}
    blob, diff_id = gzip_layer(files)
    registry = Registry(blob)
    store, pending = fetch(tmp_path, registry, diff_id)
    try:
        assert pending[0][0].diff_id == diff_id
        unpacked = Path(pending[0][0].scratch, "diff")
        assert {name: (unpacked / name).read_bytes() for name in files} == files
        assert registry.held_back > 0  # the download waited for the unpack
    finally:
        store.discard_layer(pending[0])


def test_a_refused_entry_stops_the_download_with_its_own_error(tmp_path: Path,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(pull, "PIPE_LIMIT", 4 * CHUNK)
    blob, diff_id = gzip_layer({"../escape": b"x", **{f"f{i}": os.urandom(1 << 20) for i in range(8)}})
    registry = Registry(blob)
    with pytest.raises(UnsafeArchive, match="path escapes the root"):
        fetch(tmp_path, registry, diff_id)
    assert registry.sent * CHUNK < len(blob)  # not downloaded to the end
    assert os.listdir(tmp_path / "image/layers/tmp") == []
