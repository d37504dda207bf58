"""The filter the kernel holds for a running container is Docker's default profile.

The host reads it back with PTRACE_SECCOMP_GET_FILTER and compares it with
the compilation of moby's profile file for Docker's default capabilities
(tests/unit/test_security_seccomp.py runs that program against the file's
allowlist, syscall by syscall); --privileged and seccomp=unconfined load none.
"""

from __future__ import annotations

import ctypes
import json
import os

from wharf.runtime import caps, seccomp

PTRACE_ATTACH, PTRACE_DETACH, PTRACE_SECCOMP_GET_FILTER = 16, 17, 0x420C
_libc = ctypes.CDLL(None, use_errno=True)


def loaded_filter(pid: int) -> bytes:
    assert _libc.ptrace(PTRACE_ATTACH, pid, 0, 0) == 0, os.strerror(ctypes.get_errno())
    try:
        os.waitpid(pid, 0x40000000)  # __WALL: the tracee has stopped
        count = _libc.ptrace(PTRACE_SECCOMP_GET_FILTER, pid, 0, None)
        assert count > 0, os.strerror(ctypes.get_errno())
        buf = ctypes.create_string_buffer(8 * count)
        assert _libc.ptrace(PTRACE_SECCOMP_GET_FILTER, pid, 0, buf) == count
        return buf.raw
    finally:
        _libc.ptrace(PTRACE_DETACH, pid, 0, 0)


def seccomp_mode(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("Seccomp:"))


def run_detached(wharfd, busybox, *flags) -> tuple[str, int]:
    r = wharfd.wharf("run", "-d", *flags, busybox, "sleep", "60")
    assert r.returncode == 0, r.stderr
    cid = r.stdout.strip()
    pid = json.loads(wharfd.wharf("inspect", cid).stdout)[0]["State"]["Pid"]
    return cid, pid


def test_loaded_filter_is_dockers_default_profile(wharfd, busybox):
    cid, pid = run_detached(wharfd, busybox)
    try:
        assert seccomp_mode(pid) == 2
        expected = seccomp.compile_filter(seccomp.to_oci(seccomp.load_default(), list(caps.DEFAULT)))
        assert loaded_filter(pid) == expected
    finally:
        wharfd.wharf("rm", "-f", cid)


def test_no_filter_when_unconfined_or_privileged(wharfd, busybox):
    for flags in (["--security-opt", "seccomp=unconfined"], ["--privileged"]):
        cid, pid = run_detached(wharfd, busybox, *flags)
        try:
            assert seccomp_mode(pid) == 0, flags
        finally:
            wharfd.wharf("rm", "-f", cid)


def test_custom_profile_file(wharfd, busybox, tmp_path):
    """--security-opt seccomp=<file>: the CLI sends the file, the container obeys it."""
    profile = {"defaultAction": "SCMP_ACT_ALLOW",
               "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO",
                             "errnoRet": 13}]}
    path = tmp_path / "profile.json"
    path.write_text(json.dumps(profile))
    r = wharfd.wharf("run", "--rm", "--security-opt", f"seccomp={path}", busybox,
                     "mkdir", "/made")
    assert r.returncode == 1 and "Permission denied" in r.stderr
    r = wharfd.wharf("run", "--rm", busybox, "mkdir", "/made")
    assert r.returncode == 0, r.stderr
