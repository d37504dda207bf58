"""wharf's seccomp filter decides like Docker's default profile.

The compiled BPF is run here by a small interpreter over every syscall of
x86_64, i386 and x32, and its verdicts are compared with what moby's profile
file says for a container with Docker's default capabilities.
"""

from __future__ import annotations

import json
import struct

import pytest

from wharf.runtime import caps, seccomp

X86_64, I386 = 0xC000003E, 0x40000003
ALLOW, EPERM, ENOSYS = seccomp.RET_ALLOW, seccomp.RET_ERRNO | 1, seccomp.RET_ERRNO | 38


def run_bpf(program: bytes, nr: int, arch: int, args: tuple[int, ...] = ()) -> int:
    """Classic BPF as the kernel runs it on struct seccomp_data."""
    args = tuple(args) + (0,) * (6 - len(args))
    data = struct.pack("<iIQ6Q", nr, arch, 0, *args)
    insns = [struct.unpack("=HBBI", program[i:i + 8]) for i in range(0, len(program), 8)]
    pc, a = 0, 0
    while True:
        code, jt, jf, k = insns[pc]
        if code == 0x20:
            a = struct.unpack_from("<I", data, k)[0]
        elif code == 0x54:
            a &= k
        elif code == 0x06:
            return k
        elif code == 0x05:
            pc += k
        else:
            taken = {0x15: a == k, 0x25: a > k, 0x35: a >= k}[code]
            pc += jt if taken else jf
        pc += 1


def profile_names(default_caps: list[str]) -> tuple[set[str], set[str]]:
    """(always allowed, allowed only for some arguments) per moby's file, for these caps."""
    with open(seccomp.DEFAULT_PROFILE) as f:
        prof = json.load(f)
    plain, conditional = set(), set()
    for entry in prof["syscalls"]:
        inc, exc = entry.get("includes", {}), entry.get("excludes", {})
        if entry["action"] != "SCMP_ACT_ALLOW":
            continue
        if inc.get("arches") and "amd64" not in inc["arches"]:
            continue
        if inc.get("caps") and not set(inc["caps"]) <= set(default_caps):
            continue
        if set(exc.get("caps", [])) & set(default_caps) or "amd64" in exc.get("arches", []):
            continue
        (conditional if entry.get("args") else plain).update(entry["names"])
    return plain, conditional - plain


@pytest.fixture(scope="module")
def default_program() -> bytes:
    oci = seccomp.to_oci(seccomp.load_default(), list(caps.DEFAULT), "x86_64", "6.18.0")
    return seccomp.compile_filter(oci)


def tables() -> dict[str, dict[str, int]]:
    with open(seccomp._SYSCALLS) as f:
        return json.load(f)


@pytest.mark.parametrize("table,arch", [("x86_64", X86_64), ("x86", I386), ("x32", X86_64)])
def test_allowlist_is_dockers_on_every_abi(default_program, table, arch):
    plain, conditional = profile_names(list(caps.DEFAULT))
    for name, nr in tables()[table].items():
        verdict = run_bpf(default_program, nr, arch)
        if name in plain:
            assert verdict == ALLOW, name
        elif name == "clone3":
            assert verdict == ENOSYS  # Docker's: glibc falls back to clone
        elif name not in conditional:
            assert verdict == EPERM, name


def test_argument_filters(default_program):
    nr = tables()["x86_64"]
    assert run_bpf(default_program, nr["personality"], X86_64, (0xFFFFFFFF,)) == ALLOW
    assert run_bpf(default_program, nr["personality"], X86_64, (0x0400000,)) == EPERM
    assert run_bpf(default_program, nr["socket"], X86_64, (2,)) == ALLOW
    assert run_bpf(default_program, nr["socket"], X86_64, (40,)) == EPERM  # AF_VSOCK, wharf's choice
    assert run_bpf(default_program, nr["socket"], X86_64, (1,)) == ALLOW  # AF_UNIX
    assert run_bpf(default_program, nr["socket"], X86_64, (40 | 1 << 32,)) == ALLOW
    assert run_bpf(default_program, nr["clone"], X86_64, (0x11,)) == ALLOW  # SIGCHLD fork
    assert run_bpf(default_program, nr["clone"], X86_64, (0x10000000,)) == EPERM  # NEWUSER


#: (syscall, ABI, capabilities added to Docker's default set, verdict) where
#: Docker 20.10.24's profile (API 1.41) differs from later moby files
DOCKER_20_10 = [
    ("name_to_handle_at", "x86_64", [], EPERM),
    ("name_to_handle_at", "x86_64", ["CAP_DAC_READ_SEARCH"], EPERM),
    ("name_to_handle_at", "x86_64", ["CAP_SYS_ADMIN"], ALLOW),
    ("open_by_handle_at", "x86_64", ["CAP_DAC_READ_SEARCH"], ALLOW),
    ("process_vm_readv", "x86_64", [], EPERM),
    ("process_vm_writev", "x86_64", [], EPERM),
    ("process_vm_readv", "x86_64", ["CAP_SYS_PTRACE"], ALLOW),
    ("process_vm_writev", "x86", ["CAP_SYS_PTRACE"], ALLOW),
    ("pkey_alloc", "x86_64", [], EPERM),
    ("pkey_free", "x86_64", [], EPERM),
    ("pkey_mprotect", "x86", [], EPERM),
    ("ptrace", "x86_64", [], ALLOW),  # minKernel 4.8: no seccomp bypass through it since
    ("bpf", "x86_64", ["CAP_BPF"], EPERM),
    ("bpf", "x86_64", ["CAP_SYS_ADMIN"], ALLOW),
    ("perf_event_open", "x86_64", ["CAP_PERFMON"], EPERM),
    ("set_mempolicy_home_node", "x86_64", ["CAP_SYS_NICE"], EPERM),
    ("clock_settime64", "x86", ["CAP_SYS_TIME"], EPERM),
    ("clock_settime", "x86", ["CAP_SYS_TIME"], ALLOW),
    ("io_uring_setup", "x86_64", [], ALLOW),
]


@pytest.mark.parametrize("name,table,added,verdict", DOCKER_20_10,
                         ids=[f"{c[0]}-{c[1]}-{'+'.join(c[2]) or 'default'}" for c in DOCKER_20_10])
def test_profile_is_docker_20_10s(name, table, added, verdict):
    oci = seccomp.to_oci(seccomp.load_default(), [*caps.DEFAULT, *added], "x86_64", "6.18.0")
    arch = I386 if table == "x86" else X86_64
    assert run_bpf(seccomp.compile_filter(oci), tables()[table][name], arch) == verdict


def test_ptrace_only_on_kernels_that_check_seccomp_after_it():
    """Before 4.8 a tracer could rewrite a filtered syscall after the check."""
    for release, verdict in (("4.4.0", EPERM), ("4.8.0", ALLOW)):
        oci = seccomp.to_oci(seccomp.load_default(), list(caps.DEFAULT), "x86_64", release)
        nr = tables()["x86_64"]["ptrace"]
        assert run_bpf(seccomp.compile_filter(oci), nr, X86_64) == verdict, release


def test_capabilities_widen_the_allowlist():
    nr = tables()["x86_64"]
    oci = seccomp.to_oci(seccomp.load_default(), [*caps.DEFAULT, "CAP_SYS_ADMIN", "CAP_SYS_TIME"],
                         "x86_64", "6.18.0")
    program = seccomp.compile_filter(oci)
    for name in ("mount", "unshare", "settimeofday", "clone3"):
        assert run_bpf(program, nr[name], X86_64) == ALLOW, name
    assert run_bpf(program, nr["clone"], X86_64, (0x10000000,)) == ALLOW
    assert run_bpf(program, nr["reboot"], X86_64) == EPERM


def test_unknown_numbers_and_architectures():
    program = seccomp.compile_filter(seccomp.to_oci(seccomp.load_default(), [], "x86_64"))
    assert run_bpf(program, 1000, X86_64) == ENOSYS  # newer than the table: libc falls back
    assert run_bpf(program, 0, 0xC00000B7) == seccomp.RET_KILL_PROCESS  # aarch64: not ours


def test_custom_profile_operators():
    prof = {"defaultAction": "SCMP_ACT_ALLOW", "architectures": ["SCMP_ARCH_X86_64"],
            "syscalls": [{"names": ["write"], "action": "SCMP_ACT_ERRNO", "errnoRet": 5,
                          "args": [{"index": 2, "value": 1 << 33, "op": "SCMP_CMP_GE"}]},
                         {"names": ["read"], "action": "SCMP_ACT_ERRNO",
                          "args": [{"index": 0, "value": 3, "op": "SCMP_CMP_LT"}]}]}
    program = seccomp.compile_filter(seccomp.to_oci(prof, [], "x86_64"))
    assert run_bpf(program, 1, X86_64, (1, 0, 1 << 33)) == seccomp.RET_ERRNO | 5
    assert run_bpf(program, 1, X86_64, (1, 0, (1 << 33) - 1)) == ALLOW
    assert run_bpf(program, 0, X86_64, (2,)) == EPERM  # no errnoRet: EPERM, as runc
    assert run_bpf(program, 0, X86_64, (3,)) == ALLOW
