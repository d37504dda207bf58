"""Untrusted layer tars: nothing lands outside the root, whiteouts become overlay's."""

from __future__ import annotations

import gzip
import hashlib
import io
import os
import stat
from pathlib import Path

import pytest

from unit.image.image_tars import make_tar
from wharf.image.archive import OPAQUE_XATTR, UnsafeArchive, extract_layer


@pytest.fixture
def roots(tmp_path: Path) -> tuple[Path, Path]:
    root, outside = tmp_path / "root", tmp_path / "outside"
    root.mkdir()
    outside.mkdir()
    (outside / "secret").write_text("host data")
    return root, outside


def listing(path: Path) -> dict[str, bytes | None]:
    return {str(p.relative_to(path)): (p.read_bytes() if p.is_file() and not p.is_symlink() else None)
            for p in path.rglob("*")}


def test_extracts_files_dirs_links_and_reports_digest(roots: tuple[Path, Path]) -> None:
    root, _ = roots
    data = make_tar(("dir", "bin", ""), ("file", "bin/busybox", "ELF"),
                    ("symlink", "bin/sh", "/bin/busybox"), ("hardlink", "bin/bb", "bin/busybox"),
                    ("file", "./etc/passwd", "root:x:0:0::/root:/bin/sh\n"))
    result = extract_layer(io.BytesIO(data), str(root))
    assert result.diff_id == "sha256:" + hashlib.sha256(data).hexdigest()
    assert result.size == len("ELF") + len("root:x:0:0::/root:/bin/sh\n")
    assert (root / "bin/busybox").read_text() == "ELF"
    assert os.readlink(root / "bin/sh") == "/bin/busybox"  # kept, never followed
    assert os.stat(root / "bin/bb").st_ino == os.stat(root / "bin/busybox").st_ino
    assert (root / "bin/busybox").stat().st_mtime == 1_700_000_000


def test_gzip_layers_are_detected_and_digested_uncompressed(roots: tuple[Path, Path]) -> None:
    root, _ = roots
    data = make_tar(("file", "hello", "world"))
    result = extract_layer(io.BytesIO(gzip.compress(data)), str(root))
    assert result.diff_id == "sha256:" + hashlib.sha256(data).hexdigest()
    assert (root / "hello").read_text() == "world"


@pytest.mark.parametrize("entries, message", [
    ([("file", "../escaped", "x")], "escapes the root"),
    ([("file", "a/../../escaped", "x")], "escapes the root"),
    ([("file", "/abs", "x")], "absolute path"),
    ([("symlink", "evil", "OUTSIDE"), ("file", "evil/pwned", "x")], "through a symlink"),
    ([("symlink", "evil", "OUTSIDE"), ("file", "evil/secret", "overwritten")], "through a symlink"),
    ([("hardlink", "link", "../outside/secret")], "escapes the root"),
    ([("symlink", "evil", "OUTSIDE"), ("hardlink", "link", "evil/secret")], "through a symlink"),
    ([("chr", "dev/null", "")], "device nodes are not allowed"),
])
def test_hostile_entries_are_refused_and_nothing_is_written_outside(
        roots: tuple[Path, Path], entries: list[tuple[str, str, str]], message: str) -> None:
    root, outside = roots
    before = listing(outside)
    entries = [(k, n, p.replace("OUTSIDE", str(outside)) if isinstance(p, str) else p)
               for k, n, p in entries]
    with pytest.raises(UnsafeArchive, match=message):
        extract_layer(io.BytesIO(make_tar(*entries)), str(root))
    assert listing(outside) == before
    assert not (root.parent / "escaped").exists() and not Path("/abs").exists()


def test_hardlink_to_a_symlink_links_the_symlink_itself(roots: tuple[Path, Path]) -> None:
    root, outside = roots
    extract_layer(io.BytesIO(make_tar(("symlink", "s", str(outside / "secret")),
                                      ("hardlink", "h", "s"))), str(root))
    assert (root / "h").is_symlink()
    assert os.stat(outside / "secret").st_nlink == 1


def test_impossible_entries_are_a_clear_error(roots: tuple[Path, Path]) -> None:
    with pytest.raises(Exception, match='failed to extract "l"'):
        extract_layer(io.BytesIO(make_tar(("dir", "d", ""), ("hardlink", "l", "d"))), str(roots[0]))


def test_garbage_is_a_clear_error(roots: tuple[Path, Path]) -> None:
    with pytest.raises(Exception, match="tar"):
        extract_layer(io.BytesIO(b"not a tar at all" * 100), str(roots[0]))


@pytest.mark.skipif(os.geteuid() != 0, reason="whiteout devices and trusted xattrs need root")
def test_whiteouts_become_overlay_whiteouts(roots: tuple[Path, Path]) -> None:
    root, _ = roots
    extract_layer(io.BytesIO(make_tar(("dir", "etc", ""), ("file", "etc/.wh.motd", ""),
                                      ("dir", "var", ""), ("file", "var/.wh..wh..opq", ""),
                                      ("file", "var/new", "n"))), str(root))
    st = os.lstat(root / "etc/motd")
    assert stat.S_ISCHR(st.st_mode) and st.st_rdev == os.makedev(0, 0)
    assert not (root / "etc/.wh.motd").exists()
    assert os.getxattr(root / "var", OPAQUE_XATTR) == b"y"
    assert sorted(os.listdir(root / "var")) == ["new"]
