"""runc runs the very bundle spec.build makes (through wharf.runtime.oci), and the engine
pauses, measures and signals what it started as it does its own containers."""

from __future__ import annotations

import io
import json
import os
import secrets
import shutil
import signal
import time
from typing import Iterator

import pytest

from rtbox import Box
from wharf.linux import syscalls
from wharf.runtime import cgroups, container
from wharf.runtime.oci import OCIRuntime

pytestmark = pytest.mark.skipif(shutil.which("runc") is None, reason="runc not installed")


@pytest.fixture
def runc(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OCIRuntime]:
    """runc with a private state root; this process is subreaper while it lives."""
    syscalls.prctl(syscalls.PR_SET_CHILD_SUBREAPER, 1)
    rt = OCIRuntime("runc", str(tmp_path_factory.mktemp("wharf-test-runc")))
    yield rt
    syscalls.prctl(syscalls.PR_SET_CHILD_SUBREAPER, 0)
    shutil.rmtree(rt.root or "", ignore_errors=True)


def _bundle(box: Box, args: list[str]) -> str:
    (box.bundle / "config.json").write_text(json.dumps(box.spec(args)))
    return str(box.bundle)


def test_runc_runs_the_bundle(box: Box, runc: OCIRuntime) -> None:
    cid = f"wharf-test-{secrets.token_hex(4)}"
    r, w = os.pipe()
    try:
        pid, master = runc.spawn(cid, _bundle(box, ["sh", "-c", "echo pid=$$; hostname; "
                                                    "grep CapEff /proc/self/status"]),
                                 (0, w, w))
    finally:
        os.close(w)
    try:
        out = io.open(r, "rb").read().decode()
        _, status = os.waitpid(pid, 0)
    finally:
        runc.delete(cid, force=True)
    assert master is None
    assert os.waitstatus_to_exitcode(status) == 0
    assert out == "pid=1\nbox\nCapEff:\t00000000a80425fb\n"


def test_runc_errors_keep_dockers_kinds(box: Box, runc: OCIRuntime) -> None:
    with pytest.raises(container.SpawnError) as e:
        runc.spawn(f"wharf-test-{secrets.token_hex(4)}", _bundle(box, ["nosuch"]))
    assert e.value.kind == "not_found"
    assert 'exec: "nosuch": executable file not found in $PATH' in e.value.message


def test_a_runc_container_is_paused_measured_and_killed_by_its_cgroup_and_pid(
        box: Box, runc: OCIRuntime) -> None:
    """The engine freezes the cgroup and signals the pid whichever runtime started it:
    runc must agree it is paused."""
    cid = f"wharf-test-{secrets.token_hex(4)}"
    pid, _ = runc.spawn(cid, _bundle(box, ["sleep", "30"]))
    cg = cgroups.open(box.cgroups_path)
    try:
        cg.freeze()
        assert json.loads(runc.run("state", cid))["status"] == "paused"
        cg.thaw()
        assert json.loads(runc.run("state", cid))["status"] == "running"
        assert cg.stats()["pids_stats"]["current"] == 1
        os.kill(pid, signal.SIGKILL)
        _, status = os.waitpid(pid, 0)
        assert os.waitstatus_to_exitcode(status) == -signal.SIGKILL
    finally:
        runc.delete(cid, force=True)
    time.sleep(0.05)
    assert not os.path.isdir(cgroups.open(box.cgroups_path).dirs()[0])
