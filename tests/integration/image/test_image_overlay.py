"""rw layers on the real kernel's overlayfs: shared lowers, whiteouts, clean unmounts."""

from __future__ import annotations

import asyncio
import io
import json
import os
import secrets
import shutil
from pathlib import Path
from typing import Any, Iterator

import pytest

from unit.image.image_tars import make_tar
from wharf.config import DaemonConfig
from wharf.engine.events import EventBus
from wharf.engine.images import ImageService
from wharf.linux import mountinfo


def mount_options(target: Path) -> str:
    for m in mountinfo.mounts():
        if m.mount_point == str(target):
            return m.super_options
    raise AssertionError(f"{target} is not mounted")


@pytest.fixture
def base() -> Iterator[Path]:
    path = Path("/tmp") / f"wharf-test-{secrets.token_hex(4)}"
    path.mkdir()
    yield path
    for target in mountinfo.below(str(path)):
        os.system(f"umount -l {target}")
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def svc(base: Path) -> ImageService:
    return ImageService(DaemonConfig(data_root=str(base / "data")), EventBus())


def run(coro: Any) -> Any:
    return asyncio.run(coro)


def test_two_containers_share_the_image_layers(svc: ImageService, base: Path) -> None:
    image_id = run(svc.import_tar(io.BytesIO(make_tar(
        ("dir", "etc", ""), ("file", "etc/motd", "hello"), ("file", "etc/doomed", "x"))), repo="img"))
    a, b = base / "a", base / "b"
    for cid, target in (("a" * 64, a), ("b" * 64, b)):
        run(svc.create_rw_layer(cid, image_id))
        run(svc.mount_rw_layer(cid, str(target)))
    lower_a = [o for o in mount_options(a).split(",") if o.startswith("lowerdir=")]
    assert lower_a and lower_a == [o for o in mount_options(b).split(",") if o.startswith("lowerdir=")]
    assert (a / "etc/motd").read_text() == (b / "etc/motd").read_text() == "hello"

    (a / "etc/motd").write_text("changed by a")
    (a / "etc/doomed").unlink()
    assert (b / "etc/motd").read_text() == "hello"  # b's view and the shared layer are untouched
    assert (b / "etc/doomed").exists()
    assert not (a / "etc/doomed").exists()
    assert run(svc.rw_layer_size("a" * 64)) == len("changed by a")

    run(svc.unmount_rw_layer("a" * 64, str(a)))
    run(svc.mount_rw_layer("a" * 64, str(a)))  # the deletion survives a remount
    assert not (a / "etc/doomed").exists() and (a / "etc/motd").read_text() == "changed by a"

    for cid, target in (("a" * 64, a), ("b" * 64, b)):
        run(svc.unmount_rw_layer(cid, str(target)))
        run(svc.unmount_rw_layer(cid, str(target)))  # twice is fine
        run(svc.remove_rw_layer(cid))
    assert mountinfo.below(str(base)) == []
    assert svc.store.snapshots.ids() == []


def test_many_layers_fit_the_mount_option_limit(svc: ImageService, base: Path) -> None:
    """80 layers: absolute lowerdir paths would pass a page; the short links do not."""
    store = svc.store
    parent, diff_ids, chains = None, [], []
    for i in range(80):
        layer = store.register_layer(io.BytesIO(make_tar(("file", f"f{i}", str(i)))), parent)
        parent = layer.chain_id
        diff_ids.append(layer.diff_id)
        chains.append(parent)
    assert sum(len(store.layers.diff_dir(c)) + 1 for c in chains) > os.sysconf("SC_PAGE_SIZE")
    image_id = store.create({"architecture": "amd64", "os": "linux", "config": {},
                             "rootfs": {"type": "layers", "diff_ids": diff_ids}})
    target = base / "many"
    run(svc.create_rw_layer("m" * 64, image_id))
    run(svc.mount_rw_layer("m" * 64, str(target)))
    try:
        assert sorted(os.listdir(target)) == sorted(f"f{i}" for i in range(80))
    finally:
        run(svc.unmount_rw_layer("m" * 64, str(target)))
        run(svc.remove_rw_layer("m" * 64))


def test_layers_of_a_force_removed_image_live_until_its_container_goes(svc: ImageService, base: Path) -> None:
    image_id = run(svc.import_tar(io.BytesIO(make_tar(("file", "f", "x"))), repo="img"))
    run(svc.create_rw_layer("c" * 64, image_id))
    records = run(svc.delete("img", force=True))
    assert {"Deleted": image_id} in records and len(records) == 2  # untag + image, no layer
    target = base / "c"
    run(svc.mount_rw_layer("c" * 64, str(target)))
    assert (target / "f").read_text() == "x"
    run(svc.unmount_rw_layer("c" * 64, str(target)))
    run(svc.remove_rw_layer("c" * 64))
    assert svc.store.layers.chains() == []
    assert os.listdir(svc.store.content.blobs_dir) == []


def test_whiteouts_in_a_layer_hide_files_below(svc: ImageService, base: Path) -> None:
    store = svc.store
    bottom = store.register_layer(io.BytesIO(make_tar(
        ("dir", "d", ""), ("file", "d/gone", "1"), ("file", "d/kept", "2"),
        ("dir", "o", ""), ("file", "o/old", "3"))))
    top = store.register_layer(io.BytesIO(make_tar(
        ("file", "d/.wh.gone", ""), ("file", "o/.wh..wh..opq", ""), ("file", "o/new", "4"))), bottom.chain_id)
    image_id = store.create({"architecture": "amd64", "os": "linux", "config": {},
                             "rootfs": {"type": "layers", "diff_ids": [bottom.diff_id, top.diff_id]}})
    target = base / "w"
    run(svc.create_rw_layer("w" * 64, image_id))
    run(svc.mount_rw_layer("w" * 64, str(target)))
    try:
        assert sorted(os.listdir(target / "d")) == ["kept"]
        assert sorted(os.listdir(target / "o")) == ["new"]
    finally:
        run(svc.unmount_rw_layer("w" * 64, str(target)))
        run(svc.remove_rw_layer("w" * 64))


def test_a_layer_made_by_an_older_wharf_still_mounts(svc: ImageService, base: Path) -> None:
    """Older wharfs kept the lowerdirs in a ``lower`` file; their containers still start."""
    image_id = run(svc.import_tar(io.BytesIO(make_tar(("file", "motd", "hello"))), repo="img"))
    cid, target = "c" * 64, base / "c"
    run(svc.create_rw_layer(cid, image_id))
    rw = base / "data/image/rw" / cid
    assert sorted(p.name for p in rw.iterdir()) == ["meta.json", "upper", "work"]
    meta = json.loads((rw / "meta.json").read_text())
    (rw / "lower").write_text(meta.pop("lower"))  # the layout before
    (rw / "meta.json").write_text(json.dumps(meta))
    run(svc.mount_rw_layer(cid, str(target)))
    assert (target / "motd").read_text() == "hello"
    run(svc.unmount_rw_layer(cid, str(target)))
    run(svc.remove_rw_layer(cid))
