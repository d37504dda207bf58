"""Broken image records at start: logged, left out, removable, repaired by storing the config again."""

from __future__ import annotations

import io
import json
import os
import tarfile
from pathlib import Path

import pytest

from wharf.errors import NotFound
from wharf.image.reference import parse_tagged
from wharf.image.store import ImageStore


def _layer(store: ImageStore, content: bytes) -> str:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        info = tarfile.TarInfo("f")
        info.size = len(content)
        tar.addfile(info, io.BytesIO(content))
    return store.register_layer(io.BytesIO(buf.getvalue())).diff_id


def _image(store: ImageStore, name: str) -> tuple[str, bytes]:
    config = json.dumps({"rootfs": {"type": "layers", "diff_ids": [_layer(store, name.encode())]}}).encode()
    image_id = store.create_raw(config)
    store.tag(image_id, parse_tagged(name), "")
    return image_id, config


@pytest.mark.parametrize("damage", ["garbage", "missing config", "missing layer", "metadata"])
def test_broken_image_is_left_out_and_removable(tmp_path: Path, damage: str) -> None:
    root = str(tmp_path / "image")
    store = ImageStore(root)
    good, _ = _image(store, "good:1")
    bad, _ = _image(store, "bad:1")
    bad_chain = store.record(bad).chain_ids[0]
    if damage == "garbage":
        Path(store.content.path(bad)).write_bytes(b"{nope")
    elif damage == "missing config":
        os.unlink(store.content.path(bad))
    elif damage == "missing layer":
        os.unlink(os.path.join(store.layers.root, bad_chain.removeprefix("sha256:"), "layer.json"))
    else:
        Path(store._meta_path(bad)).write_text("{")
    store = ImageStore(root)  # a restart
    assert store.ids() == [good] and bad in store.broken
    with pytest.raises(NotFound, match="No such image: bad:1"):
        store.resolve("bad:1")
    assert store.resolve(bad, broken=True) == bad
    assert store.layers.exists(bad_chain) or damage == "missing layer"  # nothing pruned while it is unknown
    store.delete(bad)
    assert not store.broken and store.ids() == [good]
    assert not store.layers.exists(bad_chain)


def test_storing_the_config_again_repairs_it(tmp_path: Path) -> None:
    root = str(tmp_path / "image")
    store = ImageStore(root)
    bad, config = _image(store, "bad:1")
    Path(store.content.path(bad)).write_bytes(b"\0" * 10)
    store = ImageStore(root)
    assert bad in store.broken
    assert store.create_raw(config) == bad
    assert not store.broken and store.resolve("bad:1") == bad and store.record(bad).diff_ids
