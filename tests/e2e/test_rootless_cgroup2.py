"""``wharfd --rootless`` in a cgroup v2 delegated to its user: limits, stats, OOM,
pause and top as a rootful daemon's (issue #19); in an undelegated one, no cgroups.

Root makes a cgroup and hands it to the user as systemd's ``Delegate=yes`` does
(``chown`` of the directory and its cgroup.procs, cgroup.subtree_control,
cgroup.threads), then starts the user's daemon in it. Needs a cgroup v2 host:
``scripts/test-in-vm.sh`` runs this file in a cgroup v2 guest (scripts/test.sh's
guest set).
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
from pathlib import Path
from typing import Iterator

import pytest

from support import rootless
from support.polling import eventually
from support.rootless import User
from wharf.runtime import cgroups, delegation

ROOT = Path("/sys/fs/cgroup")

pytestmark = pytest.mark.skipif(
    not cgroups.is_v2(), reason="cgroup v1 host: only cgroup v2 can be delegated to a user "
    "(scripts/test-in-vm.sh runs this in a cgroup v2 guest)")


@pytest.fixture(scope="module")
def user() -> Iterator[User]:
    with rootless.new_user() as made:
        yield made


@contextlib.contextmanager
def new_cgroup(owner: User | None, parent: str = "", enable: str = "") -> Iterator[str]:
    """A cgroup below ``parent`` (the root), handed to ``owner`` as systemd's
    Delegate=yes does (or root's, giving its children the controllers ``enable``
    says); removed at the end, which fails if anything is still in it."""
    path = f"{parent}/wrl-{secrets.token_hex(4)}"
    directory = ROOT / path.lstrip("/")
    directory.mkdir()
    try:
        if enable:
            (directory / "cgroup.subtree_control").write_text(enable)
        if owner is not None:
            for target in (directory, *(directory / f for f in (
                    "cgroup.procs", "cgroup.subtree_control", "cgroup.threads"))):
                os.chown(target, owner.uid, owner.gid)
        yield path
    finally:
        for sub in sorted((d for d, _, _ in os.walk(directory)), key=len, reverse=True):
            os.rmdir(sub)


@pytest.fixture(scope="module")
def delegated(user: User) -> Iterator[tuple[User, Path]]:
    """The user's daemon in a cgroup delegated to it; its directory. When the daemon
    has stopped, only the leaf its own processes moved to is left there."""
    with new_cgroup(user) as path:
        directory = ROOT / path.lstrip("/")
        with rootless.daemon(user, cgroup=path):
            yield user, directory
        assert children(directory) == [delegation.LEAF]
        assert not (directory / delegation.LEAF / "cgroup.procs").read_text().split()


def children(directory: Path) -> list[str]:
    """The cgroups directly below ``directory``."""
    return sorted(p.name for p in directory.iterdir() if p.is_dir())


def container_dir(directory: Path, cid: str) -> Path:
    """The container's cgroup: ``{delegated}/{cgroup parent}/{id}``."""
    return directory / "wharf" / cid


def test_undelegated_cgroup_v2_has_no_cgroups_and_says_so(user: User) -> None:
    """A cgroup the user does not own: the driver none, with Docker's warning."""
    with new_cgroup(None) as path:
        with rootless.daemon(user, cgroup=path, bootstrap=False) as log:
            r = user.wharf("info")
            assert r.returncode == 0, r.stderr
            assert " Cgroup Driver: none\n" in r.stdout
            assert " Cgroup Version: 2\n" in r.stdout
            warning = ("WARNING: Running in rootless-mode without cgroups. Systemd is required "
                       "to enable cgroups in rootless-mode.")
            assert warning in r.stdout + r.stderr
            assert warning in rootless.tail(log)
        assert children(ROOT / path.lstrip("/")) == []  # nothing of the daemon's


def test_limits_of_controllers_not_delegated_are_dropped_with_dockers_warning(
        user: User) -> None:
    """The user's cgroup was given memory and pids only: --cpu-shares is dropped as
    dockerd drops it on a host without the cpu controller, --cpus refused."""
    with new_cgroup(None, enable="+memory +pids") as outer, \
            new_cgroup(user, parent=outer) as path, rootless.daemon(user, cgroup=path):
        r = user.wharf("run", "--rm", "--cpu-shares", "512", "--memory", "32m", "busybox",
                       "cat", "/sys/fs/cgroup/memory.max")
        assert (r.returncode, r.stdout) == (0, "33554432\n"), r.stderr
        assert ("WARNING: Your kernel does not support CPU shares or the cgroup is not "
                "mounted. Shares discarded.\n") in r.stderr
        r = user.wharf("run", "--rm", "--cpus", "0.5", "busybox", "true")
        assert r.returncode == 125
        assert "NanoCPUs can not be set, as your kernel does not support CPU CFS scheduler" \
            in r.stderr


def test_info_says_cgroupfs_on_v2(delegated: tuple[User, Path]) -> None:
    user, _ = delegated
    r = user.wharf("info")
    assert r.returncode == 0, r.stderr
    assert " Cgroup Driver: cgroupfs\n" in r.stdout
    assert " Cgroup Version: 2\n" in r.stdout
    assert "without cgroups" not in r.stdout + r.stderr


def test_memory_limit_is_the_containers_and_oom_kills(delegated: tuple[User, Path]) -> None:
    user, _ = delegated
    r = user.wharf("run", "--rm", "--memory", "32m", "busybox", "cat", "/sys/fs/cgroup/memory.max")
    assert (r.returncode, r.stdout) == (0, "33554432\n"), r.stderr
    name = f"oom{secrets.token_hex(4)}"
    r = user.wharf("run", "--name", name, "--memory", "32m", "--memory-swap", "32m", "busybox",
                   "sh", "-c", "x=a; while true; do x=$x$x; done", timeout=300)
    try:
        assert r.returncode == 137, r.stderr
        state = json.loads(user.wharf("inspect", name).stdout)[0]["State"]
        assert (state["OOMKilled"], state["ExitCode"]) == (True, 137)
    finally:
        user.wharf("rm", "-f", name)


def test_pids_limit_stops_a_fork_bomb(delegated: tuple[User, Path]) -> None:
    user, _ = delegated
    r = user.wharf("run", "--rm", "--pids-limit", "10", "busybox", "sh", "-c",
                   "while true; do sleep 100 & done", timeout=300)
    assert r.returncode != 0
    assert "can't fork" in r.stderr


def test_pause_stats_top_update_and_cleanup(delegated: tuple[User, Path]) -> None:
    """A running container's cgroup, seen from the host: frozen by pause, counted by
    stats, listed by top, changed by update, gone with the container."""
    user, directory = delegated
    r = user.wharf("run", "-d", "--memory", "32m", "--cpus", "0.5", "busybox", "sleep", "300")
    assert r.returncode == 0, r.stderr
    cid = r.stdout.strip()
    cg = container_dir(directory, cid)
    try:
        assert (cg / "memory.max").read_text() == "33554432\n"
        assert (cg / "cpu.max").read_text() == "50000 100000\n"
        assert user.wharf("pause", cid).returncode == 0
        assert "frozen 1" in (cg / "cgroup.events").read_text()
        assert json.loads(user.wharf("inspect", cid).stdout)[0]["State"]["Paused"] is True
        assert user.wharf("unpause", cid).returncode == 0
        assert "frozen 0" in (cg / "cgroup.events").read_text()
        usage = user.wharf("stats", "--no-stream", "--format", "{{.MemUsage}}", cid).stdout
        assert usage.endswith(" / 32MiB\n") and not usage.startswith("0B"), usage
        top = user.wharf("top", cid).stdout.splitlines()
        assert [line.split()[-2:] for line in top[1:]] == [["sleep", "300"]], top
        r = user.wharf("update", "--memory", "64m", "--memory-swap", "128m", cid)
        assert r.returncode == 0, r.stderr
        assert (cg / "memory.max").read_text() == "67108864\n"
    finally:
        user.wharf("rm", "-f", cid)
    assert eventually(lambda: not cg.exists())


def test_a_containers_cgroup_parent_is_below_the_delegated_cgroup(
        delegated: tuple[User, Path]) -> None:
    """``--cgroup-parent ci``: the user may make cgroups only in its own, so the
    container's cgroup is ``{delegated}/ci/{id}``, limited there."""
    user, directory = delegated
    r = user.wharf("run", "-d", "--cgroup-parent", "ci", "--memory", "32m", "busybox",
                   "sleep", "300")
    assert r.returncode == 0, r.stderr
    cid = r.stdout.strip()
    cg = directory / "ci" / cid
    try:
        assert (cg / "memory.max").read_text() == "33554432\n"
        assert (cg / "cgroup.procs").read_text().split()
    finally:
        user.wharf("rm", "-f", cid)
        assert eventually(lambda: not cg.exists())
        (directory / "ci").rmdir()  # a cgroup parent stays, as under dockerd
