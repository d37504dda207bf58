"""The process that `exec` brings into a container is out of the container's reach.

An attacker (``exec_watch_probe.c``, the container's init, root with Docker's
default capabilities) scans /proc for every new pid while the test runs
``exec`` many times, and tries what was done to wharf's exec helper before
(issue 14): open its /proc/PID/exe (the host's interpreter), read and open
its fds (the container's json log on the host, open for writing), ptrace it,
stop or kill it. The entering process is non-dumpable from its fork until its
execve and holds no engine fd, so the probe reaches nothing foreign; a
stopped or killed one ends the exec with an error or an exit code, never a
hang, and never takes the container with it.
"""

from __future__ import annotations

import fcntl
import os
import subprocess
from pathlib import Path

import pytest

from support.polling import eventually
from wharf.linux import sealed

PROBE_SOURCE = os.path.join(os.path.dirname(__file__), "exec_watch_probe.c")
EXECS = 150


@pytest.fixture(scope="module")
def probe(tmp_path_factory) -> str:
    out = tmp_path_factory.mktemp("watchprobe")
    subprocess.run(["gcc", "-static", "-O1", "-o", str(out / "probe"), PROBE_SOURCE], check=True)
    return str(out)


def _attacked(wharfd, busybox, probe, ctl, mode: str, *flags: str) -> str:
    """A running container whose init is the probe in ``mode``."""
    os.chmod(ctl, 0o777)
    r = wharfd.wharf("run", "-d", "-v", f"{probe}:/t:ro", "-v", f"{ctl}:/ctl", *flags, busybox,
                     "/t/probe", mode, "/ctl", check=True)
    return r.stdout.strip()


def _exec(wharfd, cid: str, cmd: list[str], tty: bool = False,
          timeout: float = 20) -> tuple[int, int | None]:
    """Run ``cmd`` in ``cid`` through the API: (start status, exit code)."""
    status, ex = wharfd.api("POST", f"/containers/{cid}/exec",
                            {"Cmd": cmd, "AttachStdout": True, "AttachStderr": True, "Tty": tty})
    assert status == 201, ex
    status, _ = wharfd.api("POST", f"/exec/{ex['Id']}/start", {"Detach": False, "Tty": tty},
                           timeout=timeout)
    return status, wharfd.api("GET", f"/exec/{ex['Id']}/json")[1]["ExitCode"]


def _report(wharfd, cid: str, ctl) -> tuple[dict[str, int], str]:
    (ctl / "stop").touch()
    path = ctl / "report"
    eventually(path.exists)
    counts, _, details = path.read_text().partition("\n")
    return {k: int(v) for k, v in (kv.split("=") for kv in counts.split())}, details


def _running(wharfd, cid: str) -> bool:
    return wharfd.api("GET", f"/containers/{cid}/json")[1]["State"]["Running"]


def test_a_watcher_reaches_nothing_of_the_engine_during_150_execs(wharfd, busybox, probe,
                                                                   tmp_path):
    cid = _attacked(wharfd, busybox, probe, tmp_path, "watch")
    try:
        for _ in range(EXECS):
            assert _exec(wharfd, cid, ["true"]) == (200, 0)
        counts, details = _report(wharfd, cid, tmp_path)
        assert details == ""
        assert counts["exe_foreign"] == counts["fd_foreign"] == counts["ptrace_foreign"] == 0
        assert counts["exe_written"] == 0
        assert counts["injected"] == 0
        # it did race the entering processes: some were seen before their execve
        assert counts["pids"] >= EXECS // 2 and counts["exe_denied"] > 0, counts
        assert "INJECTED" not in wharfd.wharf("logs", cid, check=True).stdout
        assert _running(wharfd, cid)
    finally:
        wharfd.wharf("rm", "-f", cid)


@pytest.mark.parametrize("mode,tty", [("stop", False), ("kill", False), ("kill", True)],
                         ids=["stop", "kill", "kill-tty"])
def test_stopping_or_killing_the_entering_process_neither_hangs_exec_nor_the_container(
        wharfd, busybox, probe, tmp_path, mode, tty):
    cid = _attacked(wharfd, busybox, probe, tmp_path, mode)
    try:
        results = [_exec(wharfd, cid, ["true"], tty) for _ in range(20)]
        # each one ended: ran, was killed (137) or failed to start (an error, no hang)
        assert all(code in (0, 137, 126, 127, None) or status >= 400
                   for status, code in results), results
        counts, _ = _report(wharfd, cid, tmp_path)
        assert counts["signalled"] > 0
        assert _running(wharfd, cid)
        assert _exec(wharfd, cid, ["sh", "-c", "exit 3"]) == (200, 3)
        assert wharfd.wharf("stop", "-t", "1", cid).returncode == 0
    finally:
        wharfd.wharf("rm", "-f", cid)


def test_the_engine_side_runs_from_a_sealed_copy(wharfd, busybox):
    """The shim (and so the exec helper, its fork) runs no host file: its
    /proc/PID/exe is a memfd no one can ever write, not even the host's root."""
    cid = wharfd.wharf("run", "-d", busybox, "sleep", "60", check=True).stdout.strip()
    try:
        init = wharfd.wharf("inspect", "-f", "{{.State.Pid}}", cid, check=True).stdout.strip()
        shim = next(line.split()[1] for line in Path(f"/proc/{init}/status").read_text().splitlines()
                    if line.startswith("PPid:"))  # the init is the shim host's child
        assert os.readlink(f"/proc/{shim}/exe").startswith("/memfd:wharf-python")
        with open(f"/proc/{shim}/exe", "rb") as f:  # writable: busy now, sealed for ever
            assert os.fstat(f.fileno()).st_nlink == 0
            assert fcntl.fcntl(f.fileno(), sealed.F_GET_SEALS) == sealed.ALL_SEALS
    finally:
        wharfd.wharf("rm", "-f", cid)


#: the host's dynamic loader and libraries, so the interpreter can start in busybox
HOST_LIBS = ["-v", "/usr/lib64:/lib64:ro",
             "-v", "/usr/lib/x86_64-linux-gnu:/lib/x86_64-linux-gnu:ro"]


def test_exec_of_proc_self_exe_gives_only_a_sealed_copy(wharfd, busybox, probe, tmp_path):
    """CVE-2019-5736: ``exec c /proc/self/exe`` runs what the entering process runs;
    a container that catches it can keep its exe, but every write is refused."""
    cid = _attacked(wharfd, busybox, probe, tmp_path, "watch", *HOST_LIBS)
    try:
        for _ in range(30):
            status, code = _exec(wharfd, cid, ["/proc/self/exe", "-c", "pass"])
            assert status == 200 and code != 0  # no stdlib in busybox: it starts, then fails
        counts, details = _report(wharfd, cid, tmp_path)
        assert counts["exe_written"] == 0
        reached = [line for line in details.splitlines() if line.startswith("exe ")]
        assert reached, counts  # it did catch the interpreter
        assert all(line.endswith("/memfd:wharf-python (deleted)") for line in reached), details
        assert _running(wharfd, cid)
    finally:
        wharfd.wharf("rm", "-f", cid)
