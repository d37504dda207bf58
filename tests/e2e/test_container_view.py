"""A default container looks from inside as a Docker 20.10 one does.

Each expectation was read from ``docker run`` against a private dockerd on this
host with the same busybox rootfs: what programs rely on (the JVM and Go read
their limits under /sys/fs/cgroup; ``id``, HOME, /dev and mount flags).
"""

from __future__ import annotations

import os
import shutil

import pytest

from support.commands import ok

RUNTIMES = ["wharf", pytest.param("runc", marks=pytest.mark.skipif(
    shutil.which("runc") is None, reason="runc not installed"))]
V1 = not os.path.exists("/sys/fs/cgroup/cgroup.controllers")


def run(wharfd, *args: str) -> str:
    return ok(wharfd.wharf("run", "--rm", *args))


def mount_options(mountinfo: str, target: str) -> set[str]:
    """The per-mount options of ``target`` in a mountinfo text."""
    for line in mountinfo.splitlines():
        fields = line.split()
        if fields[4] == target:
            return set(fields[5].split(","))
    raise AssertionError(f"{target} not mounted:\n{mountinfo}")


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_own_cgroup_limits_readable_and_read_only(wharfd, busybox, runtime):
    limit = "memory/memory.limit_in_bytes" if V1 else "memory.max"
    out = run(wharfd, "--runtime", runtime, "-m", "64m", busybox, "sh", "-c",
              f"cat /sys/fs/cgroup/{limit}; grep -qx 1 /sys/fs/cgroup/{'pids/' if V1 else ''}cgroup.procs"
              f" && echo own;"
              f" echo 1 > /sys/fs/cgroup/{limit} || echo refused; cat /proc/self/mountinfo")
    lines = out.splitlines()
    assert lines[0] == "67108864"
    assert lines[1:3] == ["own", "refused"], out  # its PID 1 is in it: the container's own
    mountinfo = "\n".join(lines[3:])
    if V1:
        for hierarchy in ("memory", "cpu", "cpuacct", "cpuset", "pids", "blkio", "devices",
                          "freezer", "systemd"):
            assert {"ro", "nosuid", "nodev", "noexec"} <= mount_options(
                mountinfo, f"/sys/fs/cgroup/{hierarchy}"), hierarchy
    else:
        assert {"ro", "nosuid", "nodev", "noexec"} <= mount_options(mountinfo, "/sys/fs/cgroup")


def test_privileged_may_write_its_own_cgroup(wharfd, busybox):
    if V1:
        limit = "memory/memory.limit_in_bytes"
        script = f"echo 100000000 > /sys/fs/cgroup/{limit} && cat /sys/fs/cgroup/{limit}"
    else:  # its namespace's root is the host's to limit (nsdelegate); below it is its own,
        # as Docker in Docker uses it: move into a child, delegate, limit another child
        script = ("cd /sys/fs/cgroup && mkdir init sub && echo $$ > init/cgroup.procs && "
                  "echo +memory > cgroup.subtree_control && "
                  "echo 100000000 > sub/memory.max && cat sub/memory.max")
    out = run(wharfd, "--privileged", "-m", "64m", busybox, "sh", "-c", script)
    assert out == "99999744\n"


def test_users_groups_and_home_as_docker(wharfd, busybox):
    cmd = ["sh", "-c", "id; echo HOME=$HOME"]
    assert run(wharfd, busybox, *cmd).splitlines() == [
        "uid=0(root) gid=0(root) groups=0(root),10(wheel)", "HOME=/root"]
    assert run(wharfd, "-u", "1000", busybox, *cmd).splitlines() == [
        "uid=1000 gid=0(root) groups=0(root)", "HOME=/"]
    assert run(wharfd, "-u", "1000:1000", busybox, *cmd).splitlines() == [
        "uid=1000 gid=1000 groups=1000", "HOME=/"]
    assert run(wharfd, "-u", "nobody", busybox, *cmd).splitlines() == [
        "uid=65534(nobody) gid=65534(nogroup) groups=65534(nogroup)", "HOME=/home"]
    assert run(wharfd, "-e", "HOME=/x", busybox, *cmd).splitlines()[1] == "HOME=/x"


def test_exec_gets_groups_and_home_too(wharfd, busybox):
    cid = wharfd.wharf("run", "-d", busybox, "sleep", "60").stdout.strip()
    try:
        for user, want in (([], ["uid=0(root) gid=0(root) groups=0(root),10(wheel)", "/root"]),
                           (["-u", "nobody"], ["uid=65534(nobody) gid=65534(nogroup) "
                                               "groups=65534(nogroup)", "/home"])):
            r = wharfd.wharf("exec", *user, cid, "sh", "-c", "id; echo $HOME")
            assert r.stdout.splitlines() == want, r.stderr
    finally:
        wharfd.wharf("rm", "-f", cid)


def test_dev_has_runcs_links_and_none_dangling(wharfd, busybox):
    out = run(wharfd, busybox, "sh", "-c",
              "for l in $(find /dev -type l); do test -e $l || echo dangling $l; done; ls /dev")
    assert "dangling" not in out
    names = set(out.split())
    assert {"fd", "stdin", "stdout", "stderr", "ptmx"} <= names
    assert ("core" in names) == os.path.exists("/proc/kcore")


def test_read_only_proc_paths_are_also_nosuid_nodev_noexec(wharfd, busybox):
    mountinfo = run(wharfd, busybox, "cat", "/proc/self/mountinfo")
    for path in ("/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys"):
        assert {"ro", "nosuid", "nodev", "noexec"} <= mount_options(mountinfo, path), path
