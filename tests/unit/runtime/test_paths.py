"""secure_join keeps every lookup inside the root, whatever the symlinks say."""

from __future__ import annotations

import os
from pathlib import Path

from wharf.linux.paths import secure_join


def test_plain_and_dotdot(tmp_path: Path) -> None:
    assert secure_join(str(tmp_path), "/a/b") == str(tmp_path / "a" / "b")
    assert secure_join(str(tmp_path), "../../etc/passwd") == str(tmp_path / "etc" / "passwd")


def test_symlinks_resolve_inside(tmp_path: Path) -> None:
    (tmp_path / "etc").mkdir()
    os.symlink("/../../../etc", tmp_path / "escape")
    os.symlink("../../..", tmp_path / "etc" / "up")
    assert secure_join(str(tmp_path), "/escape/shadow") == str(tmp_path / "etc" / "shadow")
    assert secure_join(str(tmp_path), "/etc/up/x") == str(tmp_path / "x")


def test_symlink_loop_is_an_error(tmp_path: Path) -> None:
    os.symlink("b", tmp_path / "a")
    os.symlink("a", tmp_path / "b")
    try:
        secure_join(str(tmp_path), "/a")
    except OSError as e:
        assert "too many symlinks" in str(e)
    else:
        raise AssertionError("loop not detected")
