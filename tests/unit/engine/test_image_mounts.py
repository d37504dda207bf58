"""Image mount points (the CRI's image volumes): which layer directories make a subpath."""

from __future__ import annotations

import os
from pathlib import Path
from types import SimpleNamespace

import pytest

from wharf.engine import imagemounts, mounts
from wharf.errors import InvalidParameter


def _store(tmp_path: Path, layers: int) -> SimpleNamespace:
    """A stand-in for the image store: one image whose layers are ``tmp_path/<n>``, 0 at the
    bottom."""
    for n in range(layers):
        (tmp_path / str(n)).mkdir()
    return SimpleNamespace(
        record=lambda image_id: SimpleNamespace(chain_ids=[str(n) for n in range(layers)]),
        snapshots=SimpleNamespace(image_dirs=lambda chains: [str(tmp_path / c) for c in reversed(chains)]))


def _mount(store: SimpleNamespace, subpath: str = "") -> dict[str, object]:
    point = mounts.parse({"Mounts": [{"Type": "image", "Source": "img", "Target": "/v",
                                      "ImageOptions": {"Subpath": subpath}}]}, [])[0]
    return imagemounts.oci_mount(store)(point)  # type: ignore[arg-type]


def test_layers_become_a_read_only_overlay_top_first(tmp_path: Path) -> None:
    store = _store(tmp_path, 2)
    m = _mount(store)
    assert m["type"] == "overlay" and "ro" in m["options"]  # type: ignore[operator]
    assert f"lowerdir={tmp_path}/1:{tmp_path}/0" in m["options"]  # type: ignore[operator]


def test_a_subpath_in_one_layer_is_a_read_only_bind(tmp_path: Path) -> None:
    store = _store(tmp_path, 2)
    (tmp_path / "0" / "etc").mkdir()
    m = _mount(store, "etc")
    assert (m["type"], m["source"]) == ("bind", f"{tmp_path}/0/etc")
    assert "ro" in m["options"]  # type: ignore[operator]


def test_whiteouts_and_opaque_dirs_hide_the_layers_below(tmp_path: Path) -> None:
    store = _store(tmp_path, 3)
    for n in range(3):
        (tmp_path / str(n) / "etc").mkdir()
    os.setxattr(tmp_path / "1" / "etc", "trusted.overlay.opaque", b"y")
    assert _mount(store, "etc")["options"][-1] == (  # type: ignore[index]
        f"lowerdir={tmp_path}/2/etc:{tmp_path}/1/etc")
    os.rmdir(tmp_path / "2" / "etc")
    os.mknod(tmp_path / "2" / "etc", 0o600 | 0o020000, os.makedev(0, 0))  # a whiteout
    # no directory is left (the create refuses such a subpath)
    assert imagemounts._source_dirs(store, "img", "etc") == []  # type: ignore[arg-type]


@pytest.mark.parametrize("subpath", ["/etc", "../etc", "a/../../b"])
def test_a_subpath_must_stay_inside_the_image(subpath: str) -> None:
    with pytest.raises(InvalidParameter, match="subpath must be a relative path"):
        mounts.parse({"Mounts": [{"Type": "image", "Source": "img", "Target": "/v",
                                  "ImageOptions": {"Subpath": subpath}}]}, [])


def test_recursive_read_only_binds(tmp_path: Path) -> None:
    def bind(**options: object) -> dict[str, object]:
        return {"Type": "bind", "Source": str(tmp_path), "Target": "/a", "ReadOnly": True,
                "BindOptions": {"ReadOnlyForceRecursive": True, **options}}
    [point] = mounts.parse({"Mounts": [bind()]}, [])
    assert mounts.to_oci([point], None)[0]["options"] == ["rbind", "rprivate", "ro", "rro"]
    with pytest.raises(InvalidParameter, match="requires 'ReadOnly' to be true"):
        mounts.parse({"Mounts": [{**bind(), "ReadOnly": False}]}, [])
    with pytest.raises(InvalidParameter, match="requires 'Propagation' to be 'rprivate'"):
        mounts.parse({"Mounts": [bind(Propagation="rslave")]}, [])
