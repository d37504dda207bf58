"""Isolation as a user sees it: `wharf run` looked at from inside and outside."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from wharf.runtime import cgroups


def run(wharfd, *args: str, timeout: float = 60):
    return wharfd.wharf("run", "--rm", *args, timeout=timeout)


def test_pid1_is_the_command_and_host_processes_are_invisible(wharfd, busybox):
    r = run(wharfd, busybox, "ps", "-o", "pid,comm")
    assert r.returncode == 0, r.stderr
    rows = [line.split() for line in r.stdout.splitlines()[1:]]
    assert rows == [["1", "ps"]], r.stdout


def test_hostname_is_the_containers_own(wharfd, busybox):
    r = run(wharfd, "-h", "boxy", busybox, "hostname")
    assert r.stdout.strip() == "boxy"
    r = run(wharfd, busybox, "cat", "/etc/hostname")
    assert r.stdout.strip() != os.uname().nodename
    assert len(r.stdout.strip()) == 12  # docker's default: the short container ID


def test_own_interfaces_without_host_networking(wharfd, busybox):
    r = run(wharfd, busybox, "ls", "/sys/class/net")
    assert r.stdout.split() == ["eth0", "lo"]  # the default bridge's veth end
    r = run(wharfd, "--network", "none", busybox, "ls", "/sys/class/net")
    assert r.stdout.split() == ["lo"]


def test_host_network_sees_the_hosts_interfaces(wharfd, busybox):
    r = run(wharfd, "--network", "host", busybox, "ls", "/sys/class/net")
    # Other test daemons add and remove bridges meanwhile: compare the steady ones.
    assert {"lo", "eth0"} <= set(r.stdout.split())


def test_host_mounts_are_invisible(wharfd, busybox):
    r = run(wharfd, busybox, "cat", "/proc/self/mountinfo")
    assert r.returncode == 0
    targets = {line.split()[4] for line in r.stdout.splitlines()}
    host_only = {line.split()[4] for line in open("/proc/self/mountinfo")} - {"/", "/proc", "/sys", "/dev",
                                                                               "/dev/pts", "/dev/shm"}
    # /sys/fs/cgroup is there as under Docker, but showing the container's own cgroup
    # (test_container_view): on v1 a tmpfs of its own, on v2 cgroup2 mounted in its own
    # cgroup namespace: compare what they show, not where
    own = {line.split()[4] for line in r.stdout.splitlines()
           if line.split()[4].startswith("/sys/fs/cgroup") and (
               wharfd.cgroup_parent in line or line.split()[-3:-1] == ["tmpfs", "tmpfs"]
               or (cgroups.is_v2() and line.split()[-3] == "cgroup2"))}
    assert not (targets - own) & host_only
    assert not any(t.startswith(str(wharfd.base)) for t in targets)
    assert {"/", "/proc", "/dev", "/sys"} <= targets


def test_host_sees_the_containers_processes_in_its_cgroup(wharfd, busybox):
    r = wharfd.wharf("run", "-d", busybox, "sleep", "300")
    assert r.returncode == 0, r.stderr
    cid = r.stdout.strip()
    try:
        hierarchy = "" if cgroups.is_v2() else "pids"  # v2: one unified tree
        procs = Path("/sys/fs/cgroup", hierarchy, wharfd.cgroup_parent, cid, "cgroup.procs")
        pids = procs.read_text().split()
        assert len(pids) == 1
        cmdline = Path(f"/proc/{pids[0]}/cmdline").read_bytes().split(b"\0")
        assert cmdline[:2] == [b"sleep", b"300"]
        status, info = wharfd.api("GET", f"/containers/{cid}/json")
        assert info["State"]["Pid"] == int(pids[0])
    finally:
        wharfd.wharf("rm", "-f", cid)
    assert not procs.parent.exists()


def test_memory_limit_oom_kills_an_allocator(wharfd, busybox):
    r = wharfd.wharf("run", "-m", "16m", "--memory-swap", "16m", busybox,
                     "sh", "-c", "x=a; while true; do x=$x$x; done")
    assert r.returncode == 137
    cid = wharfd.wharf("ps", "-lq", "--no-trunc").stdout.strip()
    state = wharfd.api("GET", f"/containers/{cid}/json")[1]["State"]
    wharfd.wharf("rm", cid)
    assert state["OOMKilled"] is True
    assert state["ExitCode"] == 137


def test_pids_limit_stops_a_fork_bomb(wharfd, busybox):
    r = run(wharfd, "--pids-limit", "10", busybox, "sh", "-c", "while true; do sleep 100 & done")
    assert r.returncode != 0
    assert "can't fork" in r.stderr


def test_pause_freezes_and_unpause_resumes(wharfd, busybox):
    r = wharfd.wharf("run", "-d", busybox, "sh", "-c",
                     # renamed into place: a reader never sees it truncated
                     "i=0; while true; do i=$((i+1)); echo $i > /tmp/m; mv /tmp/m /tmp/n; "
                     "sleep 0.05; done")
    cid = r.stdout.strip()
    try:
        def count() -> int:
            return int(wharfd.wharf("exec", cid, "cat", "/tmp/n").stdout or 0)

        time.sleep(0.5)
        assert wharfd.wharf("pause", cid).returncode == 0
        assert "(Paused)" in wharfd.wharf("ps", "--filter", f"id={cid}").stdout
        # Read through the container's root: exec is refused while paused.
        merged = wharfd.api("GET", f"/containers/{cid}/json")[1]["State"]
        assert merged["Paused"] is True
        pid = merged["Pid"]
        n1 = Path(f"/proc/{pid}/root/tmp/n").read_text()
        time.sleep(0.5)
        assert Path(f"/proc/{pid}/root/tmp/n").read_text() == n1
        assert wharfd.wharf("unpause", cid).returncode == 0
        time.sleep(0.5)
        assert count() > int(n1)
    finally:
        wharfd.wharf("rm", "-f", cid)


def test_cap_sys_admin_is_dropped_by_default_and_comes_back_with_cap_add(wharfd, busybox):
    r = run(wharfd, busybox, "mount", "-t", "tmpfs", "none", "/tmp")
    assert r.returncode != 0
    assert "ermission denied" in r.stderr or "not permitted" in r.stderr
    r = run(wharfd, "--cap-add", "SYS_ADMIN", busybox, "mount", "-t", "tmpfs", "none", "/tmp")
    assert r.returncode == 0, r.stderr


def test_default_capability_set_is_dockers(wharfd, busybox):
    r = run(wharfd, busybox, "grep", "CapEff", "/proc/self/status")
    assert r.stdout.split()[1] == "00000000a80425fb"


@pytest.mark.parametrize("flag,value,check", [
    ("-u", "1000:1000", ["id", "-u"]),
    ("-w", "/made/here", ["pwd"]),
    ("-e", "GREETING=hi", ["sh", "-c", "echo $GREETING"]),
])
def test_user_workdir_env(wharfd, busybox, flag, value, check):
    r = run(wharfd, flag, value, busybox, *check)
    assert r.returncode == 0, r.stderr
    expected = {"-u": "1000", "-w": "/made/here", "-e": "hi"}[flag]
    assert r.stdout.strip() == expected
