"""The layers' disk use (the CRI's ImageFsInfo): kept between asks, right after a layer comes or goes."""

from __future__ import annotations

import io
import os
from pathlib import Path

from unit.image.image_tars import make_tar
from wharf.image.store import ImageStore


def _image(store: ImageStore, content: bytes) -> str:
    layer = store.register_layer(io.BytesIO(make_tar(("file", "f", content))))
    return store.create({"architecture": "amd64", "os": "linux", "config": {},
                         "rootfs": {"type": "layers", "diff_ids": [layer.diff_id]}})


def test_the_usage_grows_with_a_new_layer_and_shrinks_back_when_it_goes(tmp_path: Path) -> None:
    store = ImageStore(str(tmp_path / "image"))
    empty = store.layers.disk_usage()
    first = _image(store, os.urandom(300_000))
    grown = store.layers.disk_usage()
    assert grown[0] >= empty[0] + 300_000 and grown[1] > empty[1]
    second = _image(store, os.urandom(100_000))
    both = store.layers.disk_usage()
    assert both[0] >= grown[0] + 100_000 and both[1] > grown[1]
    assert store.layers.disk_usage() == both  # asked again with nothing changed: the same
    store.delete(first)
    assert store.layers.disk_usage()[1] == both[1] - (grown[1] - empty[1])
    store.delete(second)
    assert store.layers.disk_usage() == empty


def test_a_layer_being_unpacked_is_not_counted(tmp_path: Path) -> None:
    root = str(tmp_path / "image")
    store = ImageStore(root)
    unpacked = store.layers.unpack(io.BytesIO(make_tar(("file", "f", os.urandom(100_000)))))
    try:
        meanwhile = store.layers.disk_usage()
    finally:
        store.layers.discard(unpacked)
    assert ImageStore(root).layers.disk_usage() == meanwhile  # a fresh walk, no scratch
