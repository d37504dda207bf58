"""The /sys/fs/cgroup view, built in a private mount namespace on the host's real trees:
v1 from /sys/fs/cgroup, v2 from a cgroup2 tree (the hybrid host's unified one)."""

from __future__ import annotations

import errno
import os
import secrets
from pathlib import Path

import pytest

from wharf.linux import syscalls as sc
from wharf.runtime import cgroups, cgroupview

FLAGS = sc.MS_RDONLY | sc.MS_NOSUID | sc.MS_NODEV | sc.MS_NOEXEC
UNIFIED = next((p for p in ("/sys/fs/cgroup", "/sys/fs/cgroup/unified") if cgroups.is_v2(p)), None)


def in_own_mount_ns(check) -> None:
    """Run ``check()`` in a forked child with a private mount namespace; fail on its failure."""
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(r)
        try:
            sc.unshare(sc.CLONE_NEWNS)
            sc.mount(None, "/", None, sc.MS_REC | sc.MS_PRIVATE)
            check()
            code = 0
        except BaseException as e:  # noqa: BLE001 - reported to the parent
            os.write(w, repr(e).encode())
            code = 1
        os._exit(code)
    os.close(w)
    with os.fdopen(r, "rb") as f:
        report = f.read().decode()
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0, report


@pytest.fixture
def cgroup(request):
    root = request.param
    cg = cgroups.open(f"/wharf-test-{secrets.token_hex(4)}", root)
    cg.create()
    yield cg
    cg.destroy()


def _read_only(path: Path) -> bool:
    try:
        path.write_text("1")
    except OSError as e:
        return e.errno == errno.EROFS
    return False


@pytest.mark.skipif(cgroups.is_v2(), reason="a cgroup v1 host")
@pytest.mark.parametrize("cgroup", ["/sys/fs/cgroup"], indirect=True)
def test_v1_one_read_only_bind_per_hierarchy(cgroup, tmp_path):
    cgroup.apply({"memory": {"limit": 64 << 20}})
    target = tmp_path / "cgroup"
    target.mkdir()

    def check() -> None:
        cgroupview.mount(str(target), FLAGS, cgroup.path)
        assert (target / "memory" / "memory.limit_in_bytes").read_text() == f"{64 << 20}\n"
        assert _read_only(target / "memory" / "memory.limit_in_bytes")
        host = [f"/sys/fs/cgroup/{c}" for c in cgroups.V1_CONTROLLERS
                if os.path.isdir(f"/sys/fs/cgroup/{c}")]
        # a hierarchy as named on the host ("cpu,cpuacct"), and a link per controller
        want = {os.path.basename(os.path.realpath(h)) for h in host} | {
            os.path.basename(h) for h in host}
        assert {p.name for p in target.iterdir()} == want
        assert _read_only(target / "extra")  # the tmpfs too

    in_own_mount_ns(check)


@pytest.mark.skipif(UNIFIED is None, reason="no cgroup2 tree")
@pytest.mark.parametrize("cgroup", [UNIFIED], indirect=True)
def test_v2_the_containers_own_directory(cgroup, tmp_path):
    target = tmp_path / "cgroup"
    target.mkdir()
    marker = Path(cgroup.dir()) / "marker"  # a child cgroup: only its parent's view has it
    marker.mkdir()

    def check() -> None:
        cgroupview.mount(str(target), FLAGS, cgroup.path, UNIFIED)
        assert (target / "marker").is_dir() and (target / "cgroup.procs").read_text() == ""
        assert _read_only(target / "cgroup.procs")

    try:
        in_own_mount_ns(check)
    finally:
        marker.rmdir()
