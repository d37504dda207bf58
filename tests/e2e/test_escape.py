"""Escape attempts from a container: each is refused under Docker's default
confinement and succeeds (or gets further) once the matching guard is lifted,
so no check passes by accident (a missing tool, a quirk of this machine).

The attempts run in a small static C probe (``escape_probe.c``) bind-mounted
into busybox: it prints ``ok`` or the errno name. Quirks of this host that
shaped the choice: no loadable modules (finit_module is ENOSYS even for the
host's root), no /proc/kcore or /proc/sysrq-trigger, an unreadable disk; so
the kernel log device (/dev/kmsg, 1:11) stands in for "a device node".
"""

from __future__ import annotations

import os
import subprocess
import uuid

import pytest

PROBE_SOURCE = os.path.join(os.path.dirname(__file__), "escape_probe.c")


@pytest.fixture(scope="module")
def probe(tmp_path_factory) -> str:
    out = tmp_path_factory.mktemp("probe")
    subprocess.run(["gcc", "-static", "-O1", "-o", str(out / "probe"), PROBE_SOURCE], check=True)
    return str(out)


def attempt(wharfd, busybox, probe, flags, *args) -> str:
    r = wharfd.wharf("run", "--rm", "-v", f"{probe}:/t:ro", *flags, busybox, "/t/probe", *args)
    assert r.returncode in (0, 1), r.stderr
    return r.stdout.strip()


#: attempt, refusal by default, guard-lifting flags, result without the guard
CASES = [
    ("mount", "EPERM", ["--privileged"], "ok"),
    ("module", "EPERM", ["--privileged"], "ENOSYS"),  # the kernel itself has no modules
    ("reboot", "EPERM", ["--cap-add", "SYS_BOOT"], "EINVAL"),  # pid ns: never the host
    ("clock", "EPERM", ["--cap-add", "SYS_TIME"], "ok"),
    ("userns", "EPERM", ["--security-opt", "seccomp=unconfined"], "ok"),
    ("keyctl", "EPERM", ["--security-opt", "seccomp=unconfined"], "ok"),
    ("kmsg", "EPERM", ["--privileged"], "ok"),
    # seccomp as Docker 20.10's profile ties these to a capability
    ("handle", "EPERM", ["--cap-add", "SYS_ADMIN"], "ok"),
    ("vmread", "EPERM", ["--cap-add", "SYS_PTRACE"], "ok"),
]


@pytest.mark.parametrize("what,refused,lift,lifted", CASES, ids=[c[0] for c in CASES])
def test_refused_by_default_and_only_by_the_guard(wharfd, busybox, probe, what, refused, lift, lifted):
    assert attempt(wharfd, busybox, probe, [], what) == refused
    assert attempt(wharfd, busybox, probe, lift, what) == lifted


@pytest.mark.parametrize("what", ["pkey", "vsock"])
def test_refused_by_seccomp_alone(wharfd, busybox, probe, what):
    """Unconfined, the container gets the host's own answer (pkey_alloc needs a CPU with
    PKU; AF_VSOCK a kernel with vsock): the EPERM is the profile's, not this machine's."""
    host = subprocess.run([f"{probe}/probe", what], capture_output=True, text=True).stdout.strip()
    assert host != "EPERM"
    assert attempt(wharfd, busybox, probe, [], what) == "EPERM"
    unconfined = ["--security-opt", "seccomp=unconfined"]
    assert attempt(wharfd, busybox, probe, unconfined, what) == host


def test_kmsg_readable_with_only_its_cgroup_rule(wharfd, busybox, probe):
    """The device cgroup is what refused it: one rule (plus CAP_SYSLOG) opens it."""
    flags = ["--device-cgroup-rule", "c 1:11 r", "--cap-add", "SYSLOG"]
    assert attempt(wharfd, busybox, probe, flags, "kmsg") == "ok"
    assert attempt(wharfd, busybox, probe, ["--cap-add", "SYSLOG"], "kmsg") == "EPERM"


def test_raw_socket_only_with_net_raw(wharfd, busybox, probe):
    assert attempt(wharfd, busybox, probe, [], "raw") == "ok"  # in Docker's default set
    assert attempt(wharfd, busybox, probe, ["--cap-drop", "NET_RAW"], "raw") == "EPERM"


def test_ptrace_of_a_host_process(wharfd, busybox, probe):
    host = subprocess.Popen(["sleep", "60"])
    try:
        assert attempt(wharfd, busybox, probe, [], "ptrace", str(host.pid)) == "ESRCH"
        lifted = ["--pid", "host", "--cap-add", "SYS_PTRACE"]
        assert attempt(wharfd, busybox, probe, lifted, "ptrace", str(host.pid)) == "ok"
    finally:
        host.kill()
        host.wait()


def test_host_hostname_never_changes(wharfd, busybox, probe):
    name = os.uname().nodename
    assert attempt(wharfd, busybox, probe, [], "hostname", "wharf-evil") == "EPERM"
    r = wharfd.wharf("run", "--rm", "--privileged", "-v", f"{probe}:/t:ro", busybox, "sh", "-c",
                     "/t/probe hostname wharf-evil && hostname")
    assert r.stdout.split() == ["ok", "wharf-evil"], r.stderr
    assert os.uname().nodename == name


def test_host_root_is_out_of_reach(wharfd, busybox, tmp_path):
    marker = tmp_path / f"wharf-test-{uuid.uuid4().hex[:8]}"
    marker.write_text("host")
    me = f"/proc/{os.getpid()}/root"  # this test's process, if the container can see it
    look = ["sh", "-c", f"cat {me}{marker} {marker} /proc/1/root{marker} 2>/dev/null"]
    r = wharfd.wharf("run", "--rm", "--privileged", busybox, *look)
    assert "host" not in r.stdout.split()
    r = wharfd.wharf("run", "--rm", "--privileged", "--pid", "host", busybox, *look)
    assert "host" in r.stdout.split()  # what the pid namespace was keeping out


def test_masked_proc_and_readonly_sys(wharfd, busybox):
    look = ["sh", "-c", "wc -c < /proc/timer_list; grep ' /sys ' /proc/self/mountinfo"]
    r = wharfd.wharf("run", "--rm", busybox, *look)
    size, mount = r.stdout.splitlines()[:2]
    assert size.strip() == "0" and " ro," in f" {mount.split()[5]},"
    r = wharfd.wharf("run", "--rm", "--privileged", busybox, *look)
    size, mount = r.stdout.splitlines()[:2]
    assert int(size) > 0 and mount.split()[5].startswith("rw")
