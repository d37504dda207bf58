"""Overlay layers read back (root: whiteouts are 0/0 char devices, opacity a trusted xattr)."""

from __future__ import annotations

import io
import os
import stat
import tarfile
from pathlib import Path

import pytest

from wharf.image import layerdiff
from wharf.image.archive import OPAQUE_XATTR, extract_layer


def whiteout(path: Path) -> None:
    os.mknod(path, stat.S_IFCHR | 0o000, os.makedev(0, 0))


@pytest.fixture
def layers(tmp_path: Path) -> tuple[Path, Path, Path]:
    """base: /a/{x,y}, /o/old, /f; mid: /a/z; upper: x deleted, /o opaque with new, /f changed, /n added."""
    base, mid, upper = (tmp_path / n for n in ("base", "mid", "upper"))
    for d in (base / "a", base / "o", mid / "a", upper / "a", upper / "o", upper / "n"):
        d.mkdir(parents=True)
    (base / "a/x").write_text("x")
    (base / "a/y").write_text("y")
    (base / "o/old").write_text("old")
    (base / "f").write_text("f")
    (mid / "a/z").write_text("z")
    whiteout(upper / "a/x")
    os.setxattr(upper / "o", OPAQUE_XATTR, b"y")
    (upper / "o/new").write_text("new")
    (upper / "f").write_text("changed")
    (upper / "n/file").write_text("n")
    os.link(upper / "n/file", upper / "n/hard")
    return upper, mid, base


def test_merged_walk_and_lookup_follow_whiteouts_and_opaque_dirs(layers) -> None:
    upper, mid, base = layers
    dirs = [str(upper), str(mid), str(base)]
    assert [rel for rel, _, _ in layerdiff.walk_merged(dirs)] == [
        "a", "a/y", "a/z", "f", "n", "n/file", "n/hard", "o", "o/new"]
    assert layerdiff.lookup(dirs, "a/x") is None and layerdiff.lookup(dirs, "o/old") is None
    assert layerdiff.lookup(dirs, "a/z") is not None and layerdiff.lookup(dirs[1:], "o/old") is not None


def test_changes_are_dockers_a_c_d(layers) -> None:
    upper, mid, base = layers
    os.utime(upper / "a", (0, 0))  # a copied-up dir that differs from below is reported changed
    got = layerdiff.changes(str(upper), [str(mid), str(base)])
    assert got == [("/a", 0), ("/a/x", 2), ("/f", 0), ("/n", 1), ("/n/file", 1), ("/n/hard", 1),
                   ("/o", 2), ("/o/new", 1)]


def test_upper_dir_becomes_a_layer_tar_that_unpacks_to_the_same_overlay_dir(layers, tmp_path: Path) -> None:
    upper, _, _ = layers
    buf = io.BytesIO()
    with layerdiff.LayerTarWriter(buf) as tar:
        tar.add_upper(str(upper))
    with tarfile.open(fileobj=io.BytesIO(buf.getvalue())) as t:
        members = {m.name: m for m in t}
    assert members["a/.wh.x"].isreg() and members["o/.wh..wh..opq"].isreg()
    assert members["n/hard"].islnk() and members["n/hard"].linkname == "n/file"
    assert not any(k.startswith("SCHILY.xattr.trusted.") for m in members.values() for k in m.pax_headers)
    back = tmp_path / "back"
    back.mkdir()
    extract_layer(io.BytesIO(buf.getvalue()), str(back))
    assert layerdiff.is_whiteout(os.lstat(back / "a/x")) and layerdiff.is_opaque(str(back / "o"))
    assert os.stat(back / "n/hard").st_ino == os.stat(back / "n/file").st_ino
    assert (back / "f").read_text() == "changed"
