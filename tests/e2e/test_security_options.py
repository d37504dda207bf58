"""The security flags of ``run`` as a user sees them inside the container."""

from __future__ import annotations

import pytest

from wharf.runtime import caps


def run(wharfd, *args: str):
    return wharfd.wharf("run", "--rm", *args)


def cap_line(text: str, name: str) -> int:
    return next(int(line.split()[1], 16) for line in text.splitlines() if line.startswith(name))


def test_default_capabilities_are_dockers_14(wharfd, busybox):
    r = run(wharfd, busybox, "cat", "/proc/self/status")
    want = caps.mask(list(caps.DEFAULT))
    for field in ("CapBnd:", "CapPrm:", "CapEff:"):
        assert cap_line(r.stdout, field) == want, field
    assert cap_line(r.stdout, "CapAmb:") == 0
    assert cap_line(r.stdout, "Seccomp:") == 2


def test_privileged_gets_every_capability_the_host_has(wharfd, busybox):
    r = run(wharfd, "--privileged", busybox, "cat", "/proc/self/status")
    assert r.returncode == 0, r.stderr
    assert cap_line(r.stdout, "CapEff:") == caps.host_bounding_mask()
    assert cap_line(r.stdout, "Seccomp:") == 0


def test_cap_drop_all_and_add(wharfd, busybox):
    r = run(wharfd, "--cap-drop", "ALL", "--cap-add", "NET_ADMIN", busybox,
            "grep", "CapEff", "/proc/self/status")
    assert cap_line(r.stdout, "CapEff:") == caps.mask(["CAP_NET_ADMIN"])


def test_no_new_privileges(wharfd, busybox):
    r = run(wharfd, busybox, "grep", "NoNewPrivs", "/proc/self/status")
    assert r.stdout.split() == ["NoNewPrivs:", "0"]  # Docker's default
    r = run(wharfd, "--security-opt", "no-new-privileges", busybox,
            "grep", "NoNewPrivs", "/proc/self/status")
    assert r.stdout.split() == ["NoNewPrivs:", "1"]


def test_device_with_permissions(wharfd, busybox):
    """/dev/loop0 (7:0) is not in the default allowlist: only the --device rule opens it."""
    probe = "cat /dev/myloop > /dev/null && echo read; echo x > /dev/myloop"
    r = run(wharfd, "--device", "/dev/loop0:/dev/myloop:r", busybox, "sh", "-c", probe)
    assert r.stdout.split() == ["read"] and "Operation not permitted" in r.stderr, r.stderr
    r = run(wharfd, "--device", "/dev/loop0:/dev/myloop:rw", busybox, "sh", "-c", probe)
    assert r.stdout.split() == ["read"] and "Operation not permitted" not in r.stderr, r.stderr
    r = run(wharfd, busybox, "sh", "-c", "mknod /dev/myloop b 7 0 && " + probe)
    assert "read" not in r.stdout and "Operation not permitted" in r.stderr, r.stderr


def test_namespaced_sysctl_applies_and_host_keeps_its_own(wharfd, busybox):
    with open("/proc/sys/net/ipv4/ip_default_ttl") as f:
        host = f.read().strip()
    r = run(wharfd, "--sysctl", "net.ipv4.ip_default_ttl=99", busybox,
            "cat", "/proc/sys/net/ipv4/ip_default_ttl")
    assert r.stdout.strip() == "99", r.stderr
    with open("/proc/sys/net/ipv4/ip_default_ttl") as f:
        assert f.read().strip() == host


@pytest.mark.parametrize("name", ["vm.swappiness", "kernel.hostname"])
def test_host_wide_sysctls_are_refused(wharfd, busybox, name):
    r = run(wharfd, "--sysctl", f"{name}=1", busybox, "true")
    assert r.returncode == 125
    assert f"sysctl '{name}=1' is not whitelisted" in r.stderr  # the docker CLI's words
    status, body = wharfd.api("POST", "/containers/create",
                              {"Image": busybox, "HostConfig": {"Sysctls": {name: "1"}}})
    assert status == 400 and body["message"] == f"sysctl '{name}' is not whitelisted"


def test_group_add(wharfd, busybox):
    r = run(wharfd, "--group-add", "4242", "--group-add", "daemon", busybox, "id", "-G")
    assert r.returncode == 0, r.stderr
    assert {"4242", "1"} <= set(r.stdout.split())
    r = run(wharfd, "--group-add", "no-such-group", busybox, "true")
    assert r.returncode == 125 and "Unable to find group no-such-group" in r.stderr


def test_bad_security_options_refused_at_create(wharfd, busybox):
    for body, message in (
            ({"SecurityOpt": ["bogus"]}, 'invalid --security-opt 1: "bogus"'),
            ({"SecurityOpt": ["seccomp={not json"]}, "Decoding seccomp profile failed"),
            ({"DeviceCgroupRules": ["x 1:2 q"]}, "invalid device cgroup format 'x 1:2 q'"),
            ({"UsernsMode": "private"}, "invalid USER mode: private")):
        status, answer = wharfd.api("POST", "/containers/create",
                                    {"Image": busybox, "HostConfig": body})
        assert status == 400 and message in answer["message"], (body, answer)


def test_only_dockers_device_nodes_and_private_propagation(wharfd, busybox):
    r = run(wharfd, busybox, "sh", "-c", "ls /dev; grep ' / / ' /proc/self/mountinfo")
    lines = r.stdout.split("\n")
    nodes = set(r.stdout.split()) & {"kmsg", "mem", "loop0", "fuse", "kvm", "tty0", "console"}
    assert not nodes, nodes
    root = next(line for line in lines if " / / " in line)
    assert "shared:" not in root and "master:" not in root  # private: no propagation to/from the host


def test_missing_seccomp_profile_file(wharfd, busybox):
    r = run(wharfd, "--security-opt", "seccomp=/nonexistent.json", busybox, "true")
    assert r.returncode == 125
    assert ("opening seccomp profile (/nonexistent.json) failed: open /nonexistent.json: "
            "no such file or directory") in r.stderr


@pytest.mark.parametrize("nnp", [[], ["--security-opt", "no-new-privileges"]])
def test_filter_also_for_a_non_root_user(wharfd, busybox, nnp):
    """Without no_new_privs the filter must go in before the capabilities are dropped."""
    r = run(wharfd, "--user", "1000:1000", *nnp, busybox, "grep", "Seccomp:", "/proc/self/status")
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == ["Seccomp:", "2"]
