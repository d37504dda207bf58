"""What a full disk needs of ``wharf.fsutil``: scratch emptied in place, trees removed
through a scratch directory that already exists."""

from __future__ import annotations

import errno
import os
from pathlib import Path

from wharf.fsutil import disk_full, empty_dir, remove_tree


def test_empty_dir_keeps_the_directory_itself(tmp_path: Path) -> None:
    scratch = tmp_path / "tmp"
    empty_dir(str(scratch))  # made when missing
    (scratch / "a" / "b").mkdir(parents=True)
    (scratch / "f").write_text("x")
    os.symlink("/nonexistent", scratch / "dangling")
    inode = scratch.stat().st_ino
    empty_dir(str(scratch))
    assert list(scratch.iterdir()) == [] and scratch.stat().st_ino == inode


def test_remove_tree_goes_through_the_scratch_dir_and_tolerates_missing(tmp_path: Path) -> None:
    scratch, victim = tmp_path / "tmp", tmp_path / "layer"
    scratch.mkdir()
    (victim / "upper" / "deep").mkdir(parents=True)
    (victim / "upper" / "deep" / "f").write_bytes(b"x" * 4096)
    remove_tree(str(victim), str(scratch))
    assert not victim.exists() and list(scratch.iterdir()) == []
    remove_tree(str(victim), str(scratch))  # already gone: nothing to do


def test_remove_tree_without_a_scratch_dir_deletes_in_place(tmp_path: Path) -> None:
    victim = tmp_path / "layer"
    (victim / "upper").mkdir(parents=True)
    remove_tree(str(victim), str(tmp_path / "missing"))
    assert not victim.exists()


def test_disk_full_errors() -> None:
    assert disk_full(OSError(errno.ENOSPC, "x")) and disk_full(OSError(errno.EDQUOT, "x"))
    assert not disk_full(OSError(errno.EACCES, "x")) and not disk_full(ValueError())
