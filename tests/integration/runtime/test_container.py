"""The in-process runtime against the real kernel: what a process sees inside,
and what the host sees from outside."""

from __future__ import annotations

import os
import socket
import time
from pathlib import Path

import pytest

from wharf.linux import mountinfo
from wharf.linux import syscalls as sc
from wharf.runtime import caps, cgroups, container
from wharf.runtime.spec import Resources

from rtbox import Box

DOCKER_DEFAULT_CAPEFF = format(caps.mask(list(caps.DEFAULT)), "016x")
V2 = cgroups.is_v2()


def test_isolation_seen_from_inside(box: Box) -> None:
    code, out = box.run(["sh", "-c", "echo pid=$$; hostname; ip -o link | wc -l; "
                         "cat /proc/self/mountinfo; grep CapEff /proc/self/status"])
    assert code == 0, out
    assert "pid=1\n" in out
    assert "\nbox\n" in out
    assert "\n1\n" in out  # only lo
    assert str(box.bundle) not in out.split("CapEff")[0].replace(str(box.rootfs), "")
    assert "/work" not in out
    assert f"CapEff:\t{DOCKER_DEFAULT_CAPEFF}" in out


def test_pid1_is_the_command(box: Box) -> None:
    code, out = box.run(["cat", "/proc/1/cmdline"])
    assert (code, out) == (0, "cat\0/proc/1/cmdline\0")


def test_mount_needs_cap_sys_admin(box: Box) -> None:
    (box.rootfs / "mnt").mkdir()
    code, out = box.run(["mount", "-t", "tmpfs", "tmpfs", "/mnt"])
    assert code != 0 and "denied" in out, out
    code, out = box.run(["sh", "-c", "mount -t tmpfs tmpfs /mnt && echo mounted"],
                        capabilities=caps.effective_set(cap_add=["SYS_ADMIN"]))
    assert (code, out) == (0, "mounted\n")


def test_user_cwd_rlimit_env(box: Box) -> None:
    code, out = box.run(["sh", "-c", "id; pwd; ulimit -n; echo $GREETING; "
                         "grep CapEff /proc/self/status"],
                        uid=1000, gid=1000, additional_gids=[50], cwd="/work/dir",
                        env=["PATH=/bin", "GREETING=hello"],
                        rlimits=[{"type": "RLIMIT_NOFILE", "soft": 321, "hard": 321}])
    assert code == 0, out
    assert out.splitlines() == ["uid=1000(app) gid=1000(app) groups=50(staff)", "/work/dir",
                                "321", "hello", "CapEff:\t0000000000000000"]


def test_masked_and_readonly_paths(box: Box) -> None:
    code, out = box.run(["sh", "-c", "wc -c < /proc/timer_list; echo 1 > /proc/sys/kernel/ostype; "
                         "ls /sys/firmware | wc -l"])
    assert out.splitlines()[0] == "0"
    assert "/proc/sys/kernel/ostype: Read-only file system" in out
    assert out.splitlines()[-1] == "0"


def test_chosen_masked_and_readonly_paths_replace_the_defaults(box: Box) -> None:
    (box.rootfs / "tmp").mkdir()
    code, out = box.run(["sh", "-c", "wc -c < /etc/passwd; touch /tmp/f; "
                         "head -c 1 /proc/timer_list | wc -c"],
                        masked_paths=["/etc/passwd"], readonly_paths=["/tmp"])
    assert out.splitlines()[0] == "0"
    assert "/tmp/f: Read-only file system" in out
    assert out.splitlines()[-1] == "1"  # the default masked paths are not


def test_recursive_readonly_bind_reaches_its_submounts(box: Box, tmp_path: Path) -> None:
    sub = tmp_path / "sub"
    sub.mkdir()
    sc.mount("tmpfs", str(sub), "tmpfs")
    try:
        outs = []
        for extra in ([], ["rro"]):
            bind = {"destination": "/mnt", "type": "bind", "source": str(tmp_path),
                    "options": ["rbind", "rprivate", "ro", *extra]}
            outs.append(box.run(["sh", "-c", "touch /mnt/sub/f && echo wrote"], binds=[bind])[1])
    finally:
        sc.umount2(str(sub), sc.MNT_DETACH)
    assert outs[0] == "wrote\n"  # a plain read-only bind leaves its submounts writable
    assert "Read-only file system" in outs[1]


def test_shared_bind_sends_the_containers_mounts_to_the_host(box: Box, tmp_path: Path) -> None:
    src = tmp_path / "src"
    (src / "m").mkdir(parents=True)
    sc.mount(str(src), str(src), None, sc.MS_BIND | sc.MS_REC)
    try:
        sc.mount(None, str(src), None, sc.MS_SHARED | sc.MS_REC)
        bind = {"destination": "/mnt", "type": "bind", "source": str(src),
                "options": ["rbind", "rshared"]}
        sp = box.spec(["sh", "-c", "mount -t tmpfs x /mnt/m && touch /mnt/m/made-inside"],
                      binds=[bind], capabilities=caps.effective_set(cap_add=["SYS_ADMIN"]),
                      rootfs_propagation="rshared")
        r, w = os.pipe()
        pid = container.spawn(str(box.bundle), sp, (0, w, w))
        os.close(w)
        out = os.fdopen(r).read()
        assert os.waitpid(pid, 0)[1] == 0, out
        assert os.listdir(src / "m") == ["made-inside"]  # the host sees the container's mount
    finally:
        for path in (src / "m", src):
            while mountinfo.is_mount_point(str(path)):
                sc.umount2(str(path), sc.MNT_DETACH)


def test_user_namespace_with_the_specs_mappings(box: Box) -> None:
    mapping = [{"containerID": 0, "hostID": 1000, "size": 100000}]
    code, out = box.run(["sh", "-c", "cat /proc/self/uid_map /proc/self/gid_map; id -u; "
                         "stat -c %u /bin/busybox; hostname"],
                        id_mappings=(mapping, mapping))
    assert code == 0, out
    lines = out.split()
    assert lines[:6] == ["0", "1000", "100000"] * 2
    # root inside; the image's files (host root's) show as the overflow uid
    assert lines[6:] == ["0", "65534", "box"]
    init = box.start(["sleep", "30"], id_mappings=(mapping, mapping))
    sp = box.spec(["sleep", "30"], id_mappings=(mapping, mapping))
    r, w = os.pipe()
    process = {**sp["process"], "args": ["cat", "/proc/self/uid_map"]}
    pid = container.spawn_exec(init, sp, process, (0, w, w))
    os.close(w)
    out = os.fdopen(r).read()
    assert os.waitpid(pid, 0)[1] == 0
    assert out.split() == ["0", "1000", "100000"]  # an exec joins its user namespace


def test_readonly_rootfs_and_init(box: Box) -> None:
    code, out = box.run(["sh", "-c", "cat /proc/1/cmdline | head -c 17; echo; touch /x"],
                        readonly_rootfs=True, init="/usr/bin/tini-static")
    assert code == 1
    assert out.startswith("/sbin/docker-init")
    assert "Read-only file system" in out


def test_console_is_the_containers_own_pty(box: Box) -> None:
    ours, theirs = socket.socketpair()
    with ours, theirs:
        sp = box.spec(["sh", "-c", "tty; test -t 0 && test -t 1 && echo tty; stat -c %t,%T /dev/console"],
                      tty=True)
        pid = container.spawn(str(box.bundle), sp, console_socket=theirs.fileno())
        box.pids.append(pid)
        master = container.recv_console(ours)
    try:
        assert box.wait(pid) == 0
        out = os.read(master, 4096).decode().splitlines()
    finally:
        os.close(master)
    # as under Docker: a pty of the container's own devpts, also its /dev/console
    assert [line.strip() for line in out[:2]] == ["/dev/pts/0", "tty"]
    assert out[2].strip() == "88,0"  # major 136 (0x88), minor 0: /dev/pts/0


@pytest.mark.parametrize("args, kind, message", [
    (["nosuch"], "not_found", 'exec: "nosuch": executable file not found in $PATH'),
    (["/etc/passwd"], "not_executable", 'exec: "/etc/passwd": permission denied'),
    (["/nope"], "not_found", 'exec: "/nope": stat /nope: no such file or directory'),
])
def test_spawn_errors(box: Box, args: list[str], kind: str, message: str) -> None:
    with pytest.raises(container.SpawnError) as e:
        box.start(args)
    assert (e.value.kind, e.value.message) == (kind, message)
    assert cgroups.open(box.cgroups_path).pids() == []


def test_cgroup_placement_and_oom(box: Box) -> None:
    pid = box.start(["sleep", "30"], resources=Resources(memory=32 << 20, memory_swap=32 << 20))
    cg = cgroups.open(box.cgroups_path)
    assert cg.pids() == [pid]
    limit = Path(cg.dir(), "memory.max") if V2 else Path(cg.dir("memory"), "memory.limit_in_bytes")
    assert int(limit.read_text()) == 32 << 20
    assert cg.stats()["memory_stats"]["limit"] == 32 << 20
    os.kill(pid, 9)
    box.wait(pid)
    code, _ = box.run(["sh", "-c", "x=a; while true; do x=$x$x; done"],
                      resources=Resources(memory=32 << 20, memory_swap=32 << 20))
    assert code == -9
    assert cgroups.open(box.cgroups_path).oom_killed()


def test_pids_limit_stops_fork_bomb(box: Box) -> None:
    code, out = box.run(["sh", "-c", "for i in $(seq 30); do sleep 5 & done; wait; echo done"],
                        resources=Resources(pids_limit=10))
    assert "can't fork" in out or "Resource temporarily unavailable" in out, out


def test_freeze_and_thaw(box: Box) -> None:
    box.start(["sh", "-c", "while true; do echo x >> /count; done"])
    count = box.rootfs / "count"

    def read() -> int:
        return count.stat().st_size

    time.sleep(0.3)
    cg = cgroups.open(box.cgroups_path)
    cg.freeze()
    frozen = read()
    time.sleep(0.3)
    assert read() == frozen
    cg.thaw()
    time.sleep(0.3)
    assert read() > frozen
    assert cg.stats()["cpu_stats"]["cpu_usage"]["total_usage"] > 0


def test_exec_joins_namespaces(box: Box) -> None:
    init = box.start(["sleep", "30"])
    sp = box.spec(["sleep", "30"])
    r, w = os.pipe()
    process = {**sp["process"], "args": ["sh", "-c", "hostname; cat /proc/1/cmdline; echo; echo $$"]}
    pid = container.spawn_exec(init, sp, process, (0, w, w))
    os.close(w)
    out = os.fdopen(r).read()
    assert os.waitpid(pid, 0)[1] == 0
    for ns in ("pid", "net", "mnt", "uts", "ipc"):
        assert os.readlink(f"/proc/{init}/ns/{ns}") != os.readlink(f"/proc/self/ns/{ns}")
    lines = out.splitlines()
    assert lines[0] == "box"
    assert lines[1] == "sleep\x0030\x00"
    assert int(lines[2]) > 1  # a pid inside the container's namespace


def test_a_command_that_succeeds_exits_0(box: Box) -> None:
    """What it costs is bench/spawn.py's to say."""
    assert box.run(["true"]) == (0, "")


def test_pause_stats_and_signals_by_cgroup_and_pid(box: Box) -> None:
    """What the engine does to a running container: freeze its cgroup, read its stats
    there, signal its init's pid."""
    pid = box.start(["sleep", "30"], resources=Resources(pids_limit=20))
    cg = cgroups.open(box.cgroups_path)
    cg.freeze()
    if V2:
        assert Path(cg.dir(), "cgroup.freeze").read_text().strip() == "1"
    else:
        assert Path(cg.dir("freezer"), "freezer.state").read_text().strip() == "FROZEN"
    cg.thaw()
    stats = cg.stats()
    assert stats["pids_stats"] == {"current": 1, "limit": 20}
    assert stats["memory_stats"]["usage"] > 0
    os.kill(pid, 15)  # PID 1 without a handler ignores it, as in Docker
    time.sleep(0.1)
    os.kill(pid, 9)
    assert box.wait(pid) == -9


def test_start_gate_holds_exec_until_the_engine_says(box: Box) -> None:
    """What the engine writes while the runtime waits at the gate (the network's
    /etc files) is what the command sees; an aborted gate, or one whose writer went
    away, starts nothing."""
    import threading
    from wharf.runtime import startgate

    (box.rootfs / "etc" / "hosts").write_text("before\n")
    gate, release = os.pipe()
    result: list[tuple[int, str]] = []
    runner = threading.Thread(target=lambda: result.append(box.run(["cat", "/etc/hosts"],
                                                                   gate=gate)))
    try:
        runner.start()
        time.sleep(0.3)
        assert not result and runner.is_alive()  # set up, waiting
        (box.rootfs / "etc" / "hosts").write_text("after\n")
        startgate.release(release, True)
        runner.join(10)
    finally:
        os.close(gate)
    assert result == [(0, "after\n")]

    for say in (lambda w: startgate.release(w, False), os.close):
        gate, release = os.pipe()
        say(release)
        try:
            with pytest.raises(container.SpawnError, match="cancelled"):
                box.start(["sh", "-c", "echo ran > /ran"], gate=gate)
        finally:
            os.close(gate)
    assert not (box.rootfs / "ran").exists() and not box.cgroup.pids()


def test_private_cgroup_namespace_sees_its_own_cgroup_as_root(box: Box) -> None:
    pids_max_file = "/sys/fs/cgroup/pids.max" if V2 else "/sys/fs/cgroup/pids/pids.max"
    code, out = box.run(["sh", "-c", f"cat /proc/self/cgroup; cat {pids_max_file}"],
                        namespaces={"cgroup": "private"},
                        resources=Resources(pids_limit=42))
    assert code == 0, out
    *cgroup_lines, pids_max = out.splitlines()
    # v1: each named hierarchy (its unified line is not the container's); v2: the one line
    mine = cgroup_lines if V2 else [line for line in cgroup_lines if not line.startswith("0::")]
    assert mine and all(line.endswith(":/") for line in mine), out
    assert pids_max == "42"
