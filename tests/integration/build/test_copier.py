"""COPY/ADD on real directories: Docker's path rules, owners, modes, and no escape via symlinks."""

from __future__ import annotations

import io
import os
import tarfile
from pathlib import Path

import pytest

from wharf.build import copier
from wharf.errors import InvalidParameter, NotFound


@pytest.fixture
def trees(tmp_path: Path) -> tuple[Path, Path]:
    ctx, root = tmp_path / "ctx", tmp_path / "rootfs"
    for rel, text in {"a.txt": "a", "b.txt": "b", "dir/x/y.txt": "y", "dir/z.txt": "z"}.items():
        (ctx / rel).parent.mkdir(parents=True, exist_ok=True)
        (ctx / rel).write_text(text)
    (root / "etc").mkdir(parents=True)
    (root / "etc/passwd").write_text("root:x:0:0::/root:/bin/sh\napp:x:1000:1001::/home/app:/bin/sh\n")
    (root / "etc/group").write_text("root:x:0:\nstaff:x:50:\n")
    return ctx, root


def copy(ctx: Path, root: Path, sources: list[str], dest: str, workdir: str = "/", chown: str = "",
         chmod: str = "", add: bool = False) -> None:
    found = copier.resolve_sources(str(ctx), sources, "ADD" if add else "COPY")
    op = copier.Copy(str(root), dest, workdir, len(found), "COPY", copier.owner(chown, str(root)),
                     copier.chmod_bits(chmod), extract=add)
    for rel in found:
        op.add_source(copier.Source(str(ctx), rel))


def test_file_and_directory_destination_rules(trees):
    ctx, root = trees
    copy(ctx, root, ["a.txt"], "/renamed")
    copy(ctx, root, ["a.txt"], "/into/")
    copy(ctx, root, ["b.txt"], "rel/", workdir="/work")
    copy(ctx, root, ["dir"], "/tree")
    assert (root / "renamed").read_text() == "a" and (root / "into/a.txt").read_text() == "a"
    assert (root / "work/rel/b.txt").read_text() == "b"
    assert (root / "tree/x/y.txt").read_text() == "y" and not (root / "tree/dir").exists()
    assert oct((root / "into").stat().st_mode & 0o7777) == "0o755"


def test_wildcards_and_several_sources(trees):
    ctx, root = trees
    copy(ctx, root, ["*.txt", "dir/*.txt"], "/many/")
    assert sorted(os.listdir(root / "many")) == ["a.txt", "b.txt", "z.txt"]
    with pytest.raises(InvalidParameter, match="must be a directory and end with a /"):
        copy(ctx, root, ["a.txt", "b.txt"], "/notadir")
    with pytest.raises(NotFound, match="no source files were specified"):
        copy(ctx, root, ["*.none"], "/x/")


def test_missing_source_names_its_path(trees):
    ctx, root = trees
    with pytest.raises(NotFound, match="stat nope/missing.txt: file does not exist"):
        copy(ctx, root, ["nope/missing.txt"], "/x")


def test_chown_by_name_and_chmod(trees):
    ctx, root = trees
    copy(ctx, root, ["dir"], "/owned/deep/", chown="app:staff", chmod="640")
    st = (root / "owned/deep/z.txt").stat()
    assert (st.st_uid, st.st_gid, st.st_mode & 0o777) == (1000, 50, 0o640)
    assert (root / "owned").stat().st_uid == 1000  # new parents belong to the --chown user
    copy(ctx, root, ["a.txt"], "/num", chown="77")
    assert ((root / "num").stat().st_uid, (root / "num").stat().st_gid) == (77, 77)
    with pytest.raises(InvalidParameter, match="unable to find user nobody-here"):
        copy(ctx, root, ["a.txt"], "/x", chown="nobody-here")


def test_symlinks_in_the_image_cannot_redirect_a_copy(trees, tmp_path):
    ctx, root = trees
    outside = tmp_path / "outside"
    outside.mkdir()
    (root / "escape").symlink_to("/../../" + str(outside).lstrip("/"))
    copy(ctx, root, ["a.txt"], "/escape/")
    assert not os.listdir(outside)
    assert (root / str(outside).lstrip("/") / "a.txt").read_text() == "a"


def test_add_extracts_local_archives_only(trees):
    ctx, root = trees
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        info = tarfile.TarInfo("pkg/readme")
        info.size = 2
        tar.addfile(info, io.BytesIO(b"hi"))
    (ctx / "pkg.tgz").write_bytes(buf.getvalue())
    copy(ctx, root, ["pkg.tgz"], "/opt/", add=True)
    assert (root / "opt/pkg/readme").read_text() == "hi"
    copy(ctx, root, ["pkg.tgz"], "/copied/")
    assert (root / "copied/pkg.tgz").read_bytes() == buf.getvalue()
    copy(ctx, root, ["a.txt"], "/plain/", add=True)
    assert (root / "plain/a.txt").read_text() == "a"


def test_make_dir_for_workdir(trees):
    _, root = trees
    copier.make_dir(str(root), "/srv/app/data")
    assert (root / "srv/app/data").is_dir() and (root / "srv").stat().st_uid == 0
