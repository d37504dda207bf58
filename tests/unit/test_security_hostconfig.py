"""HostConfig security fields → spec inputs, with Docker's refusals."""

from __future__ import annotations

import os

import pytest

from wharf.engine import security
from wharf.errors import InvalidParameter
from wharf.runtime import caps


def test_defaults_are_dockers():
    sec = security.inputs({})
    assert sec.capabilities is None and sec.no_new_privs is False
    assert sec.seccomp["defaultAction"] == "SCMP_ACT_ERRNO"
    assert "mount" not in {n for r in sec.seccomp["syscalls"] for n in r["names"]
                           if not r.get("args")}
    assert sec.devices == [] and sec.cgroup_rules == [] and sec.sysctls == {}


def test_privileged_has_no_filter_and_the_hosts_devices():
    sec = security.inputs({"Privileged": True})
    assert sec.seccomp is None
    assert sec.capabilities == caps.all_capabilities()
    paths = {d["path"] for d in sec.devices}
    assert "/dev/null" in paths and not any(p.startswith("/dev/pts/") for p in paths)


def test_capabilities_decide_the_profile():
    sec = security.inputs({"CapAdd": ["SYS_ADMIN"]})
    assert "mount" in seccomp_names(sec)
    sec = security.inputs({"CapDrop": ["ALL"]})
    assert sec.capabilities == [] and "chroot" not in seccomp_names(sec)


def seccomp_names(sec):
    return {n for r in sec.seccomp["syscalls"] if r["action"] == "SCMP_ACT_ALLOW" for n in r["names"]}


@pytest.mark.parametrize("opt,nnp,confined", [
    ("no-new-privileges", True, True), ("no-new-privileges:true", True, True),
    ("no-new-privileges=false", False, True), ("seccomp=unconfined", False, False),
    ("seccomp:unconfined", False, False), ("apparmor=unconfined", False, True)])
def test_security_opt_forms(opt, nnp, confined):
    sec = security.inputs({"SecurityOpt": [opt]})
    assert sec.no_new_privs is nnp and (sec.seccomp is not None) is confined


def test_custom_profile_json():
    sec = security.inputs({"SecurityOpt": ['seccomp={"defaultAction":"SCMP_ACT_ALLOW"}']})
    assert sec.seccomp["defaultAction"] == "SCMP_ACT_ALLOW" and sec.seccomp["syscalls"] == []


def test_devices_and_rules():
    sec = security.inputs({"Devices": [{"PathOnHost": "/dev/null", "PathInContainer": "/dev/n2",
                                        "CgroupPermissions": "r"}],
                           "DeviceCgroupRules": ["c 1:11 rw", "b *:* m"]})
    assert sec.devices[0]["path"] == "/dev/n2" and (sec.devices[0]["major"], sec.devices[0]["minor"]) == (1, 3)
    assert sec.cgroup_rules == [
        {"allow": True, "type": "c", "major": 1, "minor": 3, "access": "r"},
        {"allow": True, "type": "c", "major": 1, "minor": 11, "access": "rw"},
        {"allow": True, "type": "b", "access": "m"}]
    with pytest.raises(InvalidParameter, match="not a device node"):
        security.inputs({"Devices": [{"PathOnHost": "/etc/hostname"}]})
    with pytest.raises(InvalidParameter, match="no such file or directory"):
        security.inputs({"Devices": [{"PathOnHost": "/dev/wharf-none"}]})


@pytest.mark.parametrize("name,ok", [
    ("net.ipv4.ip_forward", True), ("kernel.shmmax", True), ("fs.mqueue.msg_max", True),
    ("kernel.msgmax", True), ("vm.swappiness", False), ("kernel.hostname", False),
    ("fs.file-max", False)])
def test_sysctl_allowlist(name, ok):
    hc = {"Sysctls": {name: "1"}}
    if ok:
        security.validate(hc)
    else:
        with pytest.raises(InvalidParameter, match=f"sysctl '{name}' is not whitelisted"):
            security.validate(hc)


def test_net_sysctl_refused_with_host_network():
    with pytest.raises(InvalidParameter, match="not allowed in host network namespace"):
        security.validate({"Sysctls": {"net.ipv4.ip_forward": "1"}, "NetworkMode": "host"})


def test_group_ids_from_the_images_group_file(tmp_path):
    (tmp_path / "etc").mkdir()
    (tmp_path / "etc" / "group").write_text("root:x:0:\nwheel:x:10:\naudio:x:29:a,b\n")
    assert security.group_ids(["wheel", "777", "audio"], str(tmp_path)) == [10, 777, 29]
    with pytest.raises(InvalidParameter, match="Unable to find group nope"):
        security.group_ids(["nope"], str(tmp_path))


def test_group_file_link_to_the_host_is_not_followed_out(tmp_path):
    (tmp_path / "etc").mkdir()
    os.symlink("/etc/group", tmp_path / "etc" / "group")  # inside: /etc/group → itself
    with pytest.raises(InvalidParameter):
        security.group_ids(["root"], str(tmp_path))
