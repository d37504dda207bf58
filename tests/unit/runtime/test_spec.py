"""The OCI spec Docker would hand a runtime, built from plain inputs."""

from __future__ import annotations

from wharf.runtime import caps
from wharf.runtime.rootfs import parse_options
from wharf.runtime.spec import INIT_ANNOTATION, Resources, build
from wharf.linux import syscalls as sc


def _mount(spec: dict, dest: str) -> dict:
    return next(m for m in spec["mounts"] if m["destination"] == dest)


def test_defaults_are_dockers() -> None:
    s = build(args=["sh"], rootfs="/r", hostname="h", cgroups_path="/wharf/abc")
    assert s["root"] == {"path": "/r", "readonly": False}
    assert s["hostname"] == "h"
    assert [n["type"] for n in s["linux"]["namespaces"]] == ["pid", "network", "ipc", "uts", "mount"]
    assert s["linux"]["cgroupsPath"] == "/wharf/abc"
    assert s["process"]["capabilities"]["effective"] == list(caps.DEFAULT)
    assert s["process"]["noNewPrivileges"] is True
    assert "/proc/kcore" in s["linux"]["maskedPaths"]
    assert "/proc/sys" in s["linux"]["readonlyPaths"]
    assert "ro" in _mount(s, "/sys")["options"]
    assert _mount(s, "/sys/fs/cgroup") == {"destination": "/sys/fs/cgroup", "type": "cgroup",
                                           "source": "cgroup",
                                           "options": ["nosuid", "noexec", "nodev", "ro"]}
    assert "size=67108864" in _mount(s, "/dev/shm")["options"]
    devices = s["linux"]["resources"]["devices"]
    assert devices[0] == {"allow": False, "access": "rwm"}
    assert {"allow": True, "type": "c", "major": 1, "minor": 3, "access": "rwm"} in devices


def test_non_root_user_gets_capabilities_only_in_bounding() -> None:
    s = build(args=["id"], rootfs="/r", uid=1000, gid=1000, additional_gids=[50])
    assert s["process"]["user"] == {"uid": 1000, "gid": 1000, "additionalGids": [50]}
    assert s["process"]["capabilities"] == {"bounding": list(caps.DEFAULT)}


def test_host_and_joined_namespaces() -> None:
    s = build(args=["sh"], rootfs="/r", hostname="h",
              namespaces={"network": "host", "uts": "host", "ipc": "/proc/7/ns/ipc"})
    ns = s["linux"]["namespaces"]
    assert {"type": "ipc", "path": "/proc/7/ns/ipc"} in ns
    assert not any(n["type"] in ("network", "uts") for n in ns)
    assert "hostname" not in s  # the host's UTS namespace keeps its name


def test_init_rewrites_args_and_mounts_tini() -> None:
    s = build(args=["sleep", "1"], rootfs="/r", init="/usr/bin/tini-static")
    assert s["process"]["args"] == ["/sbin/docker-init", "--", "sleep", "1"]
    assert _mount(s, "/sbin/docker-init")["source"] == "/usr/bin/tini-static"
    assert s["annotations"][INIT_ANNOTATION] == "/usr/bin/tini-static"


def test_privileged_and_readonly() -> None:
    s = build(args=["sh"], rootfs="/r", privileged=True, readonly_rootfs=True)
    assert s["linux"]["maskedPaths"] == [] and s["linux"]["readonlyPaths"] == []
    assert "rw" in _mount(s, "/sys")["options"]
    assert s["linux"]["resources"]["devices"] == [{"allow": True, "access": "rwm"}]
    assert s["root"]["readonly"] is True
    assert s["process"]["noNewPrivileges"] is False


def test_resources_and_binds() -> None:
    binds = [{"destination": "/etc/hosts", "type": "bind", "source": "/x/hosts",
              "options": ["rbind", "rprivate"]}]
    s = build(args=["sh"], rootfs="/r", binds=binds, shm_size=1 << 20, tty=True,
              console_size=(24, 80), rlimits=[{"type": "RLIMIT_NOFILE", "soft": 1, "hard": 2}],
              resources=Resources(memory=1 << 20, memory_swap=2 << 20, nano_cpus=1_500_000_000,
                                  cpu_shares=512, cpuset_cpus="0", pids_limit=10))
    r = s["linux"]["resources"]
    assert r["memory"] == {"limit": 1 << 20, "swap": 2 << 20}
    assert r["cpu"] == {"shares": 512, "quota": 150000, "period": 100000, "cpus": "0"}
    assert r["pids"] == {"limit": 10}
    assert _mount(s, "/etc/hosts") == binds[0]
    assert "size=1048576" in _mount(s, "/dev/shm")["options"]
    assert s["process"]["consoleSize"] == {"height": 24, "width": 80}
    assert s["process"]["rlimits"] == [{"type": "RLIMIT_NOFILE", "soft": 1, "hard": 2}]


def test_mount_options() -> None:
    flags, prop, data = parse_options(["nosuid", "rbind", "ro", "rprivate", "mode=755", "rw"])
    assert flags == sc.MS_NOSUID | sc.MS_BIND | sc.MS_REC | sc.MS_RDONLY
    assert prop == sc.MS_PRIVATE | sc.MS_REC
    assert data == "mode=755"


def test_cgroup_view_and_namespace() -> None:
    s = build(args=["sh"], rootfs="/r", privileged=True, namespaces={"cgroup": "private"})
    assert "rw" in _mount(s, "/sys/fs/cgroup")["options"]
    assert {"type": "cgroup"} in s["linux"]["namespaces"]
