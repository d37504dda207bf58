"""What a full disk needs of ``wharf.fsutil``: scratch emptied in place, trees removed
through a scratch directory that already exists; and the inode flag that spreads
containers' trees over ext4's block groups."""

from __future__ import annotations

import errno
import fcntl
import os
import struct
import tempfile
from pathlib import Path

import pytest

from wharf.fsutil import disk_full, empty_dir, remove_tree, spread_subdirs


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


def test_spread_subdirs_marks_a_directory_a_top_of_trees(tmp_path: Path) -> None:
    """chattr +T where the filesystem has the flag (ext4: lsattr shows T); elsewhere
    (tmpfs) nothing happens and nothing is raised, twice over."""
    from wharf.linux import syscalls
    spread_subdirs(str(tmp_path))
    spread_subdirs(str(tmp_path))
    fd = os.open(tmp_path, os.O_RDONLY)
    try:
        flags = struct.unpack_from("i", fcntl.ioctl(fd, 0x80086601, bytes(8)))[0]
    except OSError:
        pytest.skip("this filesystem has no inode flags")
    finally:
        os.close(fd)
    assert flags & syscalls.FS_TOPDIR_FL
    if os.path.isdir("/dev/shm"):
        with tempfile.TemporaryDirectory(dir="/dev/shm") as tmpfs_dir:
            spread_subdirs(tmpfs_dir)
