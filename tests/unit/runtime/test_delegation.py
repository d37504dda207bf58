"""A rootless daemon's delegated cgroup v2, on a fake unified tree: which cgroup is
delegated, the move of its processes to the leaf, the controllers enabled."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Callable

import pytest

from wharf.runtime import delegation

DELEGATED = "/user.slice/user-1000.slice/user@1000.service/app.slice/wharfd.service"


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    """The unified root and a delegated unit cgroup holding two processes."""
    root = tmp_path / "cgroup"
    unit = root / DELEGATED.lstrip("/")
    unit.mkdir(parents=True)
    (root / "cgroup.controllers").write_text("cpuset cpu io memory pids\n")
    (unit / "cgroup.controllers").write_text("cpu memory pids\n")
    for name in ("cgroup.procs", "cgroup.threads", "cgroup.subtree_control"):
        (unit / name).write_text("")
    (unit / "cgroup.procs").write_text("41\n0\n42\n")  # 0: a pid of another PID namespace
    return root


def proc_cgroup(tmp_path: Path, path: str) -> str:
    f = tmp_path / "self-cgroup"
    f.write_text(f"0::{path}\n")
    return str(f)


def test_the_leaf_a_parent_moved_us_to_is_not_the_delegated_cgroup() -> None:
    assert delegation.base(f"{DELEGATED}/{delegation.LEAF}") == DELEGATED
    assert delegation.base(DELEGATED) == DELEGATED
    assert delegation.base(f"/{delegation.LEAF}") == "/"


def test_take_moves_what_it_sees_to_the_leaf_and_enables_the_parents_controllers(
        tree: Path, tmp_path: Path) -> None:
    taken = delegation.take(proc_cgroup(tmp_path, DELEGATED), root=str(tree))
    unit = tree / DELEGATED.lstrip("/")
    assert taken == (DELEGATED, ["+cpu", "+memory", "+pids"])  # a file, not cgroupfs: as written
    assert (unit / delegation.LEAF / "cgroup.procs").read_text() == "42"  # the last write
    assert (unit / "cgroup.subtree_control").read_text() == "+cpu +memory +pids"


def test_a_cgroup_the_user_may_not_write_is_not_delegated(
        tree: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """As root's cgroups look to a user (tests run as root, who may write anything)."""
    real: Callable[..., bool] = os.access
    monkeypatch.setattr(os, "access", lambda p, mode: not str(p).endswith("cgroup.threads")
                        and real(p, mode))
    assert delegation.take(proc_cgroup(tmp_path, DELEGATED), root=str(tree)) is None
    assert not (tree / DELEGATED.lstrip("/") / delegation.LEAF).exists()


def test_the_root_and_v1_are_never_delegated(tree: Path, tmp_path: Path) -> None:
    assert delegation.take(proc_cgroup(tmp_path, "/"), root=str(tree)) is None
    assert delegation.take(proc_cgroup(tmp_path, DELEGATED), root=str(tmp_path / "v1")) is None
