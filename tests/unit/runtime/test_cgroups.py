"""cgroups v2 on a fake unified tree and v1 path logic on a fake hierarchy set."""

from __future__ import annotations

from pathlib import Path

import pytest

from wharf.runtime import cgroups


@pytest.fixture
def v2(tmp_path: Path) -> Path:
    (tmp_path / "cgroup.controllers").write_text("cpuset cpu io memory pids\n")
    (tmp_path / "cgroup.subtree_control").write_text("")
    return tmp_path


def test_detects_version(v2: Path, tmp_path_factory: pytest.TempPathFactory) -> None:
    assert isinstance(cgroups.open("/a/b", root=str(v2)), cgroups.V2Cgroup)
    assert isinstance(cgroups.open("/a/b", root=str(tmp_path_factory.mktemp("v1"))),
                      cgroups.V1Cgroup)


def test_v2_create_delegates_and_applies(v2: Path) -> None:
    cg = cgroups.open("/wharf/c1", root=str(v2))
    cg.create()
    leaf = v2 / "wharf" / "c1"
    assert leaf.is_dir()
    assert (v2 / "cgroup.subtree_control").read_text() == "+cpuset +cpu +io +memory +pids"
    cg.apply({"memory": {"limit": 1 << 20, "reservation": 1 << 19, "swap": 3 << 20},
              "cpu": {"shares": 1024, "quota": 50000, "period": 100000, "cpus": "0-1"},
              "pids": {"limit": 5}})
    assert (leaf / "memory.max").read_text() == str(1 << 20)
    assert (leaf / "memory.low").read_text() == str(1 << 19)
    assert (leaf / "memory.swap.max").read_text() == str(2 << 20)
    assert (leaf / "cpu.weight").read_text() == "39"
    assert (leaf / "cpu.max").read_text() == "50000 100000"
    assert (leaf / "cpuset.cpus").read_text() == "0-1"
    assert (leaf / "pids.max").read_text() == "5"


def test_v2_stats_oom_pids_freeze(v2: Path) -> None:
    cg = cgroups.open("/wharf/c1", root=str(v2))
    cg.create()
    leaf = v2 / "wharf" / "c1"
    (leaf / "memory.current").write_text("4096\n")
    (leaf / "memory.max").write_text("max\n")
    (leaf / "memory.stat").write_text("anon 100\nfile 200\n")
    (leaf / "cpu.stat").write_text("usage_usec 10\nuser_usec 6\nsystem_usec 4\n")
    (leaf / "pids.current").write_text("3\n")
    (leaf / "pids.max").write_text("max\n")
    (leaf / "memory.events").write_text("low 0\nhigh 0\nmax 2\noom 1\noom_kill 1\n")
    (leaf / "cgroup.procs").write_text("11\n12\n")
    (leaf / "cgroup.events").write_text("populated 1\nfrozen 1\n")
    s = cg.stats()
    assert s["memory_stats"]["usage"] == 4096
    assert s["memory_stats"]["limit"] > 4096  # unlimited reads as the host's memory
    assert s["memory_stats"]["stats"] == {"anon": 100, "file": 200}
    assert s["cpu_stats"]["cpu_usage"] == {"total_usage": 10000, "usage_in_kernelmode": 4000,
                                           "usage_in_usermode": 6000}
    assert s["cpu_stats"]["online_cpus"] >= 1 and s["cpu_stats"]["system_cpu_usage"] > 0
    assert s["pids_stats"] == {"current": 3}
    assert cg.oom_killed()
    assert cg.pids() == [11, 12]
    cg.freeze()
    assert (leaf / "cgroup.freeze").read_text() == "1"


def test_v1_create_copies_cpuset_and_writes_files(tmp_path: Path) -> None:
    for ctrl in ("memory", "cpuset", "pids", "devices"):
        (tmp_path / ctrl).mkdir()
    (tmp_path / "cpuset" / "cpuset.cpus").write_text("0-1\n")
    (tmp_path / "cpuset" / "cpuset.mems").write_text("0\n")
    cg = cgroups.open("/wharf/c1", root=str(tmp_path))
    assert cg.dirs() == [str(tmp_path / c / "wharf" / "c1") for c in ("cpuset", "memory", "devices", "pids")]
    cg.create()
    assert (tmp_path / "cpuset" / "wharf" / "cpuset.cpus").read_text() == "0-1"
    assert (tmp_path / "cpuset" / "wharf" / "c1" / "cpuset.mems").read_text() == "0"
    cg.apply({"memory": {"limit": 1 << 20}, "pids": {"limit": 7},
              "devices": [{"allow": False, "access": "rwm"},
                          {"allow": True, "type": "c", "major": 136, "access": "rwm"}]})
    assert (tmp_path / "memory" / "wharf" / "c1" / "memory.limit_in_bytes").read_text() == str(1 << 20)
    assert (tmp_path / "pids" / "wharf" / "c1" / "pids.max").read_text() == "7"
    # each rule is one write; the fake file keeps the last
    assert (tmp_path / "devices" / "wharf" / "c1" / "devices.allow").read_text() == "c 136:* rwm"
    assert (tmp_path / "devices" / "wharf" / "c1" / "devices.deny").read_text() == "a"


def test_shares_to_weight() -> None:
    assert cgroups.shares_to_weight(2) == 1
    assert cgroups.shares_to_weight(262144) == 10000
