"""``docker update``: limits change live in the container's cgroup and in inspect;
dockerd's refusals, and a refused limit leaves everything as it was."""

from __future__ import annotations

import json

import pytest

from support.commands import ok
from wharf.runtime import cgroups

pytestmark = pytest.mark.root
MIB = 1024 * 1024
V2 = cgroups.is_v2()


def _host_config(d, cid: str) -> dict:
    return json.loads(d.docker("inspect", cid).stdout)[0]["HostConfig"]


def _inside(d, cid: str, v1_path: str, v2_path: str) -> str:
    """A cgroup file as the container sees it (its own, under /sys/fs/cgroup): the
    v1 controller's file, or on a cgroup v2 host the unified hierarchy's one."""
    r = d.docker("exec", cid, "cat", f"/sys/fs/cgroup/{v2_path if V2 else v1_path}")
    assert r.returncode == 0, r.stderr
    return r.stdout.strip()


@pytest.fixture
def running(wharfd, busybox):
    made = []

    def run(*args: str) -> str:
        made.append(ok(wharfd.docker("run", "-d", *args, busybox, "sleep", "600")).strip())
        return made[-1]
    yield run
    for cid in made:
        wharfd.docker("rm", "-f", cid)


def test_limits_change_live_and_in_inspect(wharfd, running):
    cid = running("-m", "32m")
    assert _host_config(wharfd, cid)["MemorySwap"] == 64 * MIB  # dockerd's default: 2x
    r = wharfd.docker("update", "--memory", "64m", "--cpus", "0.5", "--pids-limit", "50",
                      "--cpu-shares", "512", cid)
    assert r.returncode == 0 and r.stdout.strip() == cid, r.stderr
    assert _inside(wharfd, cid, "memory/memory.limit_in_bytes", "memory.max") == str(64 * MIB)
    assert _inside(wharfd, cid, "cpu/cpu.cfs_quota_us", "cpu.max") == \
        ("50000 100000" if V2 else "50000")
    assert _inside(wharfd, cid, "cpu/cpu.shares", "cpu.weight") == \
        str(cgroups.shares_to_weight(512) if V2 else 512)
    assert _inside(wharfd, cid, "pids/pids.max", "pids.max") == "50"
    hc = _host_config(wharfd, cid)
    assert (hc["Memory"], hc["NanoCpus"], hc["PidsLimit"], hc["CpuShares"]) == \
        (64 * MIB, 500_000_000, 50, 512)
    assert wharfd.docker("update", "--pids-limit", "-1", cid).returncode == 0
    assert _inside(wharfd, cid, "pids/pids.max", "pids.max") == "max"
    status, answer = wharfd.api("POST", f"/containers/{cid}/update", {"CpusetCpus": "0"})
    assert (status, answer) == (200, {"Warnings": []})
    assert _inside(wharfd, cid, "cpuset/cpuset.cpus", "cpuset.cpus") == "0"
    # recorded across a restart of the container
    assert wharfd.docker("restart", "-t", "0", cid).returncode == 0
    assert _inside(wharfd, cid, "memory/memory.limit_in_bytes", "memory.max") == str(64 * MIB)


def test_dockerds_refusals(wharfd, running):
    cid = running("--cpus", "1")
    r = wharfd.docker("update", "--cpu-period", "50000", cid)
    assert r.returncode != 0 and f"Cannot update container {cid}: Conflicting options: CPU " \
        "Period cannot be updated as NanoCPUs has already been set" in r.stderr
    r = wharfd.docker("update", "--memory", "64m", cid)  # no swap limit set: swap must move too
    assert r.returncode != 0 and "Memory limit should be smaller than already set memoryswap " \
        "limit, update the memoryswap at the same time" in r.stderr
    r = wharfd.docker("update", "--memory", "4m", "--memory-swap", "8m", cid)
    assert r.returncode != 0 and "Minimum memory limit allowed is 6MB" in r.stderr
    status, answer = wharfd.api("POST", f"/containers/{cid}/update", {"NanoCpus": 1, "CpuQuota": 5000})
    assert status == 400 and answer["message"] == \
        "Conflicting options: Nano CPUs and CPU Quota cannot both be set"
    status, answer = wharfd.api("POST", f"/containers/{cid}/update", {"CpusetCpus": "0-63"})
    assert status == 400 and answer["message"].startswith("Requested CPUs are not available")
    status, answer = wharfd.api("POST", f"/containers/{cid}/update", {"Memory": "1g"})
    assert status == 400 and "cannot unmarshal string" in answer["message"]
    assert wharfd.docker("update", "--memory", "64m", "nosuch").stderr.strip() == \
        "Error response from daemon: No such container: nosuch"
    r = wharfd.docker("run", "-d", "--rm", "busybox", "sleep", "600")
    auto = r.stdout.strip()
    try:
        r = wharfd.docker("update", "--restart", "always", auto)
        assert "Restart policy cannot be updated because AutoRemove is enabled for the " \
               "container" in r.stderr
    finally:
        wharfd.docker("rm", "-f", auto)


@pytest.mark.skipif(V2, reason="cgroup v2 takes a memory.max below the usage and reclaims "
                    "or OOM-kills, as runc's update there: only v1 refuses it")
def test_memory_below_usage_is_refused_and_nothing_changes(wharfd, running):
    cid = running("-m", "64m", "--memory-swap", "64m")
    # 24 MiB of tmpfs pages are charged to the container and cannot be reclaimed
    r = wharfd.docker("exec", cid, "dd", "if=/dev/zero", "of=/dev/shm/fill", "bs=1M", "count=24")
    assert r.returncode == 0, r.stderr
    r = wharfd.docker("update", "--memory", "8m", "--memory-swap", "8m", cid)
    assert r.returncode != 0
    assert f"Cannot update container {cid}: unable to set memory limit to {8 * MIB} " \
           "(current usage: " in r.stderr
    assert _host_config(wharfd, cid)["Memory"] == 64 * MIB
    assert _inside(wharfd, cid, "memory/memory.limit_in_bytes", "memory.max") == str(64 * MIB)


def test_restart_policy_and_a_stopped_container(wharfd, busybox):
    cid = wharfd.docker("create", busybox, "true").stdout.strip()
    try:
        r = wharfd.docker("update", "--restart", "on-failure:3", "--memory", "32m",
                          "--memory-swap", "64m", cid)
        assert r.returncode == 0, r.stderr
        hc = _host_config(wharfd, cid)
        assert hc["RestartPolicy"] == {"Name": "on-failure", "MaximumRetryCount": 3}
        assert hc["Memory"] == 32 * MIB
        assert wharfd.wharf("update", cid).stderr.strip().endswith(
            "you must provide one or more flags when using this command")
    finally:
        wharfd.docker("rm", "-f", cid)
