"""ext4's ``T`` flag on the directories that hold a tree per container (``spread_subdirs``)."""

from __future__ import annotations

import fcntl
import os
import struct
import tempfile
from pathlib import Path

import pytest

from wharf.linux import syscalls


def _flags(path: Path) -> int:
    fd = os.open(path, os.O_RDONLY)
    try:
        return struct.unpack_from("i", fcntl.ioctl(fd, syscalls.FS_IOC_GETFLAGS, bytes(8)))[0]
    finally:
        os.close(fd)


def test_spread_subdirs_marks_a_directory_a_top_of_trees(tmp_path: Path) -> None:
    """chattr +T where the filesystem has the flag (ext4: lsattr shows T), the flags it
    had kept; elsewhere (tmpfs) nothing happens and nothing is raised."""
    try:
        before = _flags(tmp_path)
    except OSError:
        pytest.skip("this filesystem has no inode flags")
    syscalls.spread_subdirs(str(tmp_path))
    syscalls.spread_subdirs(str(tmp_path))  # twice: no change, no error
    assert _flags(tmp_path) == before | syscalls.FS_TOPDIR_FL
    if os.path.isdir("/dev/shm"):
        with tempfile.TemporaryDirectory(dir="/dev/shm") as tmpfs_dir:
            syscalls.spread_subdirs(tmpfs_dir)
