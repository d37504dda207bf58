"""cgroup v2's device allowlist: wharf's eBPF program attached to a real cgroup2
directory (a v1 host's empty /sys/fs/cgroup/unified will do: it needs no
controller) decides what a process inside may open, as devices.allow does on v1."""

from __future__ import annotations

import os
import secrets

import pytest

from wharf.runtime import cgroups, devicefilter
from wharf.runtime.spec import Resources

# A cgroup v2 host's own hierarchy, else a v1 host's (controller-less) unified one.
UNIFIED = next((p for p in ("/sys/fs/cgroup", "/sys/fs/cgroup/unified") if cgroups.is_v2(p)),
               "/sys/fs/cgroup/unified")


@pytest.fixture
def cgroup2():
    if not os.path.isfile(os.path.join(UNIFIED, "cgroup.procs")):
        pytest.skip("no cgroup2 hierarchy")
    path = os.path.join(UNIFIED, f"wharf-test-{secrets.token_hex(4)}")
    os.mkdir(path)
    yield path
    os.rmdir(path)


def opens_in(cgroup: str, rules, attempts: list[tuple[str, int]]) -> list[str]:
    """In a child placed in ``cgroup`` under ``rules``: ok or the errno of each open."""
    devicefilter.attach(cgroup, rules)
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(r)
        with open(os.path.join(cgroup, "cgroup.procs"), "w") as f:
            f.write(str(os.getpid()))
        results = []
        for path, flags in attempts:
            try:
                os.close(os.open(path, flags))
                results.append("ok")
            except OSError as e:
                results.append(str(e.errno))
        os.write(w, " ".join(results).encode())
        os._exit(0)
    os.close(w)
    out = os.read(r, 1000).decode().split()
    os.close(r)
    os.waitpid(pid, 0)
    return out


def test_default_allowlist(cgroup2):
    rules = Resources().to_oci()["devices"]
    got = opens_in(cgroup2, rules, [("/dev/null", os.O_RDWR), ("/dev/loop0", os.O_RDONLY),
                                    ("/dev/kmsg", os.O_RDONLY), ("/dev/zero", os.O_RDONLY)])
    assert got == ["ok", "1", "1", "ok"]  # EPERM for what the list leaves out


def test_rule_permissions_and_later_rules_win(cgroup2):
    rules = [{"allow": False, "access": "rwm"},
             {"allow": True, "type": "b", "major": 7, "minor": 0, "access": "r"},
             {"allow": True, "type": "c", "major": 1, "access": "rwm"},
             {"allow": False, "type": "c", "major": 1, "minor": 5, "access": "w"}]
    got = opens_in(cgroup2, rules, [("/dev/loop0", os.O_RDONLY), ("/dev/loop0", os.O_WRONLY),
                                    ("/dev/null", os.O_WRONLY), ("/dev/zero", os.O_RDONLY),
                                    ("/dev/zero", os.O_WRONLY)])
    assert got == ["ok", "1", "ok", "ok", "1"]


def test_privileged_allows_everything(cgroup2):
    rules = Resources().to_oci(privileged=True)["devices"]
    assert opens_in(cgroup2, rules, [("/dev/loop0", os.O_RDONLY)]) == ["ok"]
