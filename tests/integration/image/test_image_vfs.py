"""The vfs driver: layers as whole copies, a container's tree a copy of its image's,
its changes found by comparing the two; and the choice of driver per data root."""

from __future__ import annotations

import io
import os
import tarfile
from pathlib import Path

import pytest

from integration.image.test_image_overlay import base, run  # noqa: F401 (base: a fixture)
from unit.image.image_tars import make_tar
from wharf.config import DaemonConfig
from wharf.engine.events import EventBus
from wharf.engine import imagemounts, mounts
from wharf.engine.images import ImageService
from wharf.image import drivers
from wharf.linux import mountinfo


def service(base: Path, driver: str = "vfs") -> ImageService:
    return ImageService(DaemonConfig(data_root=str(base / "data"), storage_driver=driver), EventBus())


def two_layer_image(svc: ImageService) -> str:
    store = svc.store
    bottom = store.register_layer(io.BytesIO(make_tar(
        ("dir", "d", ""), ("file", "d/gone", "1"), ("file", "d/kept", "2"),
        ("dir", "o", ""), ("file", "o/old", "3"), ("file", "f", "old f"))))
    top = store.register_layer(io.BytesIO(make_tar(
        ("file", "d/.wh.gone", ""), ("file", "o/.wh..wh..opq", ""), ("file", "o/new", "4"),
        ("file", "f", "new f"))), bottom.chain_id)
    return store.create({"architecture": "amd64", "os": "linux", "config": {},
                         "rootfs": {"type": "layers", "diff_ids": [bottom.diff_id, top.diff_id]}})


def test_a_layer_is_its_parent_with_the_layer_applied_and_its_tar_comes_back(base: Path) -> None:
    svc = service(base)
    image_id = two_layer_image(svc)
    top = svc.store.record(image_id).chain_ids[-1]
    tree = Path(svc.store.layers.diff_dir(top))
    assert sorted(os.listdir(tree / "d")) == ["kept"] and sorted(os.listdir(tree / "o")) == ["new"]
    assert (tree / "f").read_text() == "new f"
    assert (Path(svc.store.layers.diff_dir(svc.store.record(image_id).chain_ids[0])) / "d/gone").exists()
    svc.store.layer_tar(top).verify()  # the tar rebuilt from the whole tree hashes to its diff ID
    with tarfile.open(fileobj=io.BytesIO(b"".join(svc.store.layer_tar(top).chunks()))) as tar:
        assert sorted(tar.getnames()) == ["d/.wh.gone", "f", "o/.wh..wh..opq", "o/new"]


def test_a_container_is_a_copy_whose_changes_are_found_by_comparison(base: Path) -> None:
    svc = service(base)
    image_id = two_layer_image(svc)
    cid, target = "a" * 64, base / "a"
    run(svc.create_rw_layer(cid, image_id))
    run(svc.mount_rw_layer(cid, str(target)))
    try:
        (target / "f").write_text("container f")
        (target / "d/kept").unlink()
        (target / "added").mkdir()
        (target / "added/x").write_text("xyz")
        os.link(target / "added/x", target / "added/y")  # its bytes are counted once
        (target / "dev").mkdir()  # a runtime's mount point: the init layer's, not a change
        assert run(svc.changes(cid)) == [
            {"Path": "/added", "Kind": 1}, {"Path": "/added/x", "Kind": 1},
            {"Path": "/added/y", "Kind": 1}, {"Path": "/d", "Kind": 0}, {"Path": "/d/kept", "Kind": 2}, {"Path": "/f", "Kind": 0}]
        assert run(svc.rw_layer_size(cid)) == len("container f") + len("xyz")
        image_tree = Path(svc.store.layers.diff_dir(svc.store.record(image_id).chain_ids[-1]))
        assert (image_tree / "d/kept").exists()  # the image's copy is untouched
    finally:
        run(svc.unmount_rw_layer(cid, str(target)))
        run(svc.unmount_rw_layer(cid, str(target)))  # twice is fine
    new_id = run(svc.commit(cid, image_id, {"Cmd": ["sh"]}))
    top = svc.store.record(new_id).chain_ids[-1]
    with tarfile.open(fileobj=io.BytesIO(b"".join(svc.store.layer_tar(top).chunks()))) as tar:
        assert sorted(tar.getnames()) == ["added", "added/x", "added/y", "d", "d/.wh.kept", "f"]
    committed = Path(svc.store.layers.diff_dir(top))
    assert (committed / "f").read_text() == "container f" and not (committed / "d/kept").exists()
    out = io.BytesIO()
    run(svc.export(cid, out))
    with tarfile.open(fileobj=io.BytesIO(out.getvalue())) as tar:
        assert {"f", "added/x", "o/new", "d"} <= set(tar.getnames()) and "d/kept" not in tar.getnames()
    run(svc.remove_rw_layer(cid))
    assert mountinfo.below(str(base)) == [] and svc.store.snapshots.ids() == []


def test_an_image_mount_is_the_top_layer_alone(base: Path) -> None:
    """Its lower layers still hold what the top one deleted: never shown."""
    svc = service(base)
    image_id = two_layer_image(svc)
    point = mounts.parse({"Mounts": [{"Type": "image", "Source": image_id, "Target": "/v",
                                      "ImageOptions": {"Subpath": "d"}}]}, [])[0]
    m = imagemounts.oci_mount(svc.store)(point)
    assert m["type"] == "bind" and sorted(os.listdir(m["source"])) == ["kept"]


def test_removing_the_image_frees_its_copies(base: Path) -> None:
    svc = service(base)
    image_id = run(svc.import_tar(io.BytesIO(make_tar(("file", "f", "x"))), repo="img"))
    run(svc.delete("img"))
    assert svc.store.layers.chains() == []
    assert [n for n in os.listdir(svc.store.layers.root) if len(n) == 64] == []
    assert image_id not in svc.store.ids()


def test_a_data_root_keeps_its_driver(base: Path) -> None:
    image_dir = str(base / "data" / "image")
    assert drivers.choose(image_dir, "vfs") == "vfs"
    assert drivers.choose(image_dir, "") == "vfs"  # the prior driver, when none is asked
    with pytest.raises(drivers.DriverError, match="holds the images and containers of the vfs "
                                                  "storage driver, not overlay2"):
        drivers.choose(image_dir, "overlay2")
    other = str(base / "other" / "image")
    assert drivers.choose(other, "") == "overlay2"  # /tmp mounts overlayfs here
    with pytest.raises(drivers.DriverError, match="of the overlay2 storage driver, not vfs"):
        drivers.choose(other, "vfs")
    with pytest.raises(drivers.DriverError, match="driver not supported: aufs"):
        drivers.choose(other, "aufs")


def test_a_data_root_from_before_the_driver_file_is_overlay2s_and_then_says_so(base: Path) -> None:
    """Layers and no driver file: an older wharf's overlay2 store. The first start writes
    the driver down, so the next ones read it and never list the layers again."""
    image_dir = base / "data" / "image"
    layer = image_dir / "layers" / ("a" * 64)
    layer.mkdir(parents=True)
    assert drivers.choose(str(image_dir), "") == "overlay2"
    assert (image_dir / drivers.MARKER).read_text() == "overlay2\n"
    layer.rmdir()  # what a second start sees comes from the file alone
    assert drivers.choose(str(image_dir), "") == "overlay2"
    with pytest.raises(drivers.DriverError, match="of the overlay2 storage driver, not vfs"):
        drivers.choose(str(image_dir), "vfs")


def test_a_new_data_root_where_overlayfs_cannot_mount_falls_back_to_vfs(base: Path, caplog) -> None:
    """A data root on overlayfs itself (a container's own filesystem): overlayfs refuses
    an upper dir there, so a daemon given no driver takes vfs, one given overlay2 stops."""
    dirs = [base / n for n in ("lower", "upper", "work", "merged")]
    for d in dirs:
        d.mkdir()
    os.system(f"mount -t overlay overlay -o lowerdir={dirs[0]},upperdir={dirs[1]},workdir={dirs[2]} {dirs[3]}")
    assert mountinfo.is_mount_point(str(dirs[3]))
    with pytest.raises(drivers.DriverError, match="driver not supported: overlay2 \\(overlayfs cannot mount"):
        drivers.choose(str(dirs[3] / "asked" / "image"), "overlay2")
    assert drivers.choose(str(dirs[3] / "data" / "image"), "") == "vfs"
    assert "falling back to the vfs storage driver" in caplog.text
    assert [n for n in os.listdir(dirs[3] / "data" / "image") if n.startswith(".")] == []  # probe gone
