"""Docker's seccomp profiles, compiled to classic BPF without libseccomp.

Two steps, as in Docker and runc:

* ``to_oci(profile, caps)`` (engine side) evaluates a Docker profile (its
  JSON format: ``archMap``, ``includes``/``excludes`` by capability,
  architecture and kernel version) into the OCI ``linux.seccomp`` object
  that every runtime consumes, runc included.
* ``compile_filter(oci)`` (runtime side) turns that object into a BPF
  program: an architecture dispatch (x86_64 with its x32 half, i386), then
  per architecture a binary search over syscall-number intervals whose
  leaves are the syscall's rules (argument comparisons on 64-bit or, for
  i386, 32-bit arguments) ending in a ``ret``. Numbers above the highest
  syscall this table knows get ENOSYS, as runc's patch does, so a libc that
  tries a newer syscall falls back instead of seeing EPERM.

The syscall numbers (``seccomp_syscalls.json``) were generated from the
kernel's ``asm/unistd_{64,32,x32}.h``; ``seccomp_default.json`` is moby
v20.10.24's ``profiles/seccomp/default.json`` (Apache-2.0; Docker 20.10
serves API 1.41, as wharf does), kept as data, with one deliberate change
that docs/architecture.md (Security) gives with its reason.
"""

from __future__ import annotations

import functools
import json
import os
import platform
import struct
from typing import Any

_HERE = os.path.dirname(__file__)
DEFAULT_PROFILE = os.path.join(_HERE, "seccomp_default.json")
_SYSCALLS = os.path.join(_HERE, "seccomp_syscalls.json")

#: SCMP_ARCH_* -> (AUDIT_ARCH_* token, syscall table name, 64-bit arguments)
ARCHES = {"SCMP_ARCH_X86_64": (0xC000003E, "x86_64", True),
          "SCMP_ARCH_X86": (0x40000003, "x86", False),
          "SCMP_ARCH_X32": (0xC000003E, "x32", True)}
#: Python's machine name -> (Go's GOARCH, as profiles' includes.arches spell it, SCMP arch)
_NATIVE = {"x86_64": ("amd64", "SCMP_ARCH_X86_64"), "i686": ("386", "SCMP_ARCH_X86"),
           "aarch64": ("arm64", "SCMP_ARCH_AARCH64")}
_X32_BIT = 0x40000000

RET_KILL_PROCESS = 0x80000000
RET_KILL_THREAD = 0x00000000
RET_TRAP = 0x00030000
RET_ERRNO = 0x00050000
RET_TRACE = 0x7FF00000
RET_LOG = 0x7FFC0000
RET_ALLOW = 0x7FFF0000
_ENOSYS, _EPERM = 38, 1

# classic BPF opcodes
_LD_ABS = 0x20      # BPF_LD | BPF_W | BPF_ABS
_AND_K = 0x54       # BPF_ALU | BPF_AND | BPF_K
_JA = 0x05          # BPF_JMP | BPF_JA
_JEQ, _JGT, _JGE = 0x15, 0x25, 0x35
_RET_K = 0x06
_OFF_NR, _OFF_ARCH, _OFF_ARGS = 0, 4, 16
#: symbolic jump targets inside one rule block, resolved by ``_rule_block``
_FAIL, _NEXT = "fail", "next"

Insn = tuple[int, Any, Any, int]


# -- profile -> OCI ------------------------------------------------------------

@functools.lru_cache(maxsize=1)
def load_default() -> dict[str, Any]:
    """Docker's default profile, parsed once per process (callers only read it)."""
    with open(DEFAULT_PROFILE) as f:
        return json.load(f)


def _kernel_at_least(minimum: str, release: str) -> bool:
    def parts(v: str) -> tuple[int, ...]:
        return tuple(int(p) for p in v.split("-")[0].split(".")[:2] if p.isdigit())
    return parts(release) >= parts(minimum)


def _applies(entry: dict[str, Any], caps: set[str], goarch: str, release: str) -> bool:
    """Docker's includes (all must hold) and excludes (any one rules the entry out)."""
    inc, exc = entry.get("includes") or {}, entry.get("excludes") or {}
    if inc.get("arches") and goarch not in inc["arches"]:
        return False
    if inc.get("caps") and not set(inc["caps"]) <= caps:
        return False
    if inc.get("minKernel") and not _kernel_at_least(inc["minKernel"], release):
        return False
    if goarch in (exc.get("arches") or []) or caps & set(exc.get("caps") or []):
        return False
    return not (exc.get("minKernel") and _kernel_at_least(exc["minKernel"], release))


def to_oci(profile: dict[str, Any], caps: list[str], machine: str | None = None,
           release: str | None = None) -> dict[str, Any]:
    """The OCI ``linux.seccomp`` of a Docker profile for a container with ``caps``."""
    goarch, native = _NATIVE.get(machine or platform.machine(), ("", ""))
    release = release or os.uname().release
    arches: list[str] = list(profile.get("architectures") or [])
    for entry in profile.get("archMap") or []:
        if entry["architecture"] == native:
            arches += [entry["architecture"], *(entry.get("subArchitectures") or [])]
    out: dict[str, Any] = {"defaultAction": profile["defaultAction"],
                           "architectures": list(dict.fromkeys(arches)), "syscalls": []}
    if profile.get("defaultErrnoRet") is not None:
        out["defaultErrnoRet"] = profile["defaultErrnoRet"]
    have = set(caps)
    for entry in profile.get("syscalls") or []:
        names = entry.get("names") or ([entry["name"]] if entry.get("name") else [])
        if not names or not _applies(entry, have, goarch, release):
            continue
        rule: dict[str, Any] = {"names": names, "action": entry["action"]}
        for key in ("errnoRet", "args"):
            if entry.get(key) is not None:
                rule[key] = entry[key]
        out["syscalls"].append(rule)
    return out


def allowed_names(oci: dict[str, Any]) -> set[str]:
    """Syscalls some rule of ``oci`` allows (with or without argument conditions)."""
    return {n for r in oci["syscalls"] if r["action"] == "SCMP_ACT_ALLOW" for n in r["names"]}


# -- OCI -> BPF ----------------------------------------------------------------

def _action(name: str, errno: int | None, default_errno: int) -> int:
    if name == "SCMP_ACT_ERRNO":
        return RET_ERRNO | ((default_errno if errno is None else errno) & 0xFFFF)
    if name == "SCMP_ACT_TRACE":
        return RET_TRACE | ((default_errno if errno is None else errno) & 0xFFFF)
    table = {"SCMP_ACT_ALLOW": RET_ALLOW, "SCMP_ACT_KILL": RET_KILL_THREAD,
             "SCMP_ACT_KILL_THREAD": RET_KILL_THREAD, "SCMP_ACT_KILL_PROCESS": RET_KILL_PROCESS,
             "SCMP_ACT_TRAP": RET_TRAP, "SCMP_ACT_LOG": RET_LOG}
    if name not in table:
        raise ValueError(f"seccomp: unknown action {name!r}")
    return table[name]


def _condition(arg: dict[str, Any], wide: bool) -> list[Insn]:
    """One argument comparison; jumps to _FAIL when false, falls through (or to _NEXT) when true."""
    index, op = arg["index"], arg["op"]
    value, value2 = arg.get("value", 0), arg.get("valueTwo", 0)
    off = _OFF_ARGS + 8 * index
    halves = [(off + 4, value >> 32, value2 >> 32), (off, value & 0xFFFFFFFF, value2 & 0xFFFFFFFF)]
    if not wide:
        halves = halves[1:]
    out: list[Insn] = []
    for i, (where, v, v2) in enumerate(halves):
        last = i == len(halves) - 1
        out.append((_LD_ABS, 0, 0, where))
        if op == "SCMP_CMP_EQ":
            out.append((_JEQ, 0, _FAIL, v))
        elif op == "SCMP_CMP_MASKED_EQ":
            out += [(_AND_K, 0, 0, v), (_JEQ, 0, _FAIL, v2)]
        elif op == "SCMP_CMP_NE":
            out.append((_JEQ, _FAIL, 0, v) if last else (_JEQ, 0, _NEXT, v))
        elif op in ("SCMP_CMP_GT", "SCMP_CMP_GE"):
            if last:
                out.append((_JGT if op == "SCMP_CMP_GT" else _JGE, 0, _FAIL, v))
            else:
                out += [(_JGT, _NEXT, 0, v), (_JEQ, 0, _FAIL, v)]
        elif op in ("SCMP_CMP_LT", "SCMP_CMP_LE"):
            if last:
                out.append((_JGE if op == "SCMP_CMP_LT" else _JGT, _FAIL, 0, v))
            else:
                out += [(_JGT, _FAIL, 0, v), (_JEQ, 0, _NEXT, v)]
        else:
            raise ValueError(f"seccomp: unknown operator {op!r}")
    return out


def _rule_block(conditions: list[list[Insn]], ret: int) -> list[Insn]:
    """Conditions (ANDed) then ``ret``; any false condition jumps past the block."""
    flat: list[tuple[Insn, int]] = []  # (insn, end of its condition)
    for cond in conditions:
        start = len(flat)
        flat += [(insn, start + len(cond)) for insn in cond]
    block = [insn for insn, _ in flat] + [(_RET_K, 0, 0, ret)]
    total = len(block)

    def target(t: Any, pos: int, cond_end: int) -> int:
        dest = {_FAIL: total, _NEXT: cond_end}.get(t)
        return t if dest is None else dest - pos - 1

    out = [(code, target(jt, pos, end), target(jf, pos, end), k)
           for pos, ((code, jt, jf, k), end) in enumerate(flat)]
    if max((max(jt, jf) for _, jt, jf, _ in out), default=0) > 255:
        raise ValueError("seccomp: rule too long")
    return out + [block[-1]]


def _leaf(rules: list[tuple[list[dict[str, Any]], int]], wide: bool, default: int) -> list[Insn]:
    """Rules of one syscall in order; the first whose conditions hold decides."""
    out: list[Insn] = []
    for args, ret in rules:
        out += _rule_block([_condition(a, wide) for a in args], ret)
        if not args:
            return out
    return out + [(_RET_K, 0, 0, default)]


def _tree(intervals: list[tuple[int, list[Insn]]]) -> list[Insn]:
    """Binary search on the syscall number (in A) over a partition into intervals."""
    if len(intervals) == 1:
        return intervals[0][1]
    mid = len(intervals) // 2
    left, right = _tree(intervals[:mid]), _tree(intervals[mid:])
    return [(_JGE, 0, 1, intervals[mid][0]), (_JA, 0, 0, len(left)), *left, *right]


def _arch_section(table: dict[str, int], rules: list[dict[str, Any]], wide: bool, base: int,
                  default: int, default_errno: int) -> list[Insn]:
    by_nr: dict[int, list[tuple[list[dict[str, Any]], int]]] = {}
    for rule in rules:
        ret = _action(rule["action"], rule.get("errnoRet"), default_errno)
        for name in rule["names"]:
            if name in table:
                by_nr.setdefault(table[name], []).append((list(rule.get("args") or []), ret))
    top = max(table.values())
    intervals: list[tuple[int, list[Insn]]] = []
    last_key: Any = None
    for nr in range(base, top + 1):
        chain = by_nr.get(nr, [])
        key = tuple((json.dumps(args) if args else "", ret) for args, ret in chain)
        if key != last_key:
            intervals.append((nr, _leaf(chain, wide, default)))
            last_key = key
    intervals.append((top + 1, [(_RET_K, 0, 0, RET_ERRNO | _ENOSYS)]))
    return _tree(intervals)


def compile_filter(oci: dict[str, Any]) -> bytes:
    """The BPF program (``struct sock_filter[]``) of an OCI ``linux.seccomp``."""
    with open(_SYSCALLS) as f:
        tables = json.load(f)
    default_errno = oci.get("defaultErrnoRet") or _EPERM
    default = _action(oci["defaultAction"], None, default_errno)
    rules = oci.get("syscalls") or []
    arches = [a for a in oci.get("architectures") or [_NATIVE[platform.machine()][1]] if a in ARCHES]
    if not arches:
        raise ValueError("seccomp: none of the profile's architectures is supported")

    def section(arch: str) -> list[Insn]:
        _, name, wide = ARCHES[arch]
        base = _X32_BIT if name == "x32" else 0
        return _arch_section(tables[name], rules, wide, base, default, default_errno)

    sections: dict[int, list[Insn]] = {}
    if "SCMP_ARCH_X86_64" in arches or "SCMP_ARCH_X32" in arches:
        native = section("SCMP_ARCH_X86_64") if "SCMP_ARCH_X86_64" in arches else \
            [(_RET_K, 0, 0, RET_KILL_PROCESS)]
        x32 = section("SCMP_ARCH_X32") if "SCMP_ARCH_X32" in arches else \
            [(_RET_K, 0, 0, RET_KILL_PROCESS)]
        sections[ARCHES["SCMP_ARCH_X86_64"][0]] = [
            (_LD_ABS, 0, 0, _OFF_NR), (_JGE, 0, 1, _X32_BIT), (_JA, 0, 0, len(native)),
            *native, *x32]
    if "SCMP_ARCH_X86" in arches:
        sections[ARCHES["SCMP_ARCH_X86"][0]] = [(_LD_ABS, 0, 0, _OFF_NR), *section("SCMP_ARCH_X86")]
    program: list[Insn] = [(_LD_ABS, 0, 0, _OFF_ARCH)]
    bodies: list[Insn] = []
    dispatch: list[tuple[int, int]] = []
    for token, body in sections.items():
        dispatch.append((token, len(bodies)))
        bodies += body
    # each arch: "jeq token; ja body"; then the bad-arch verdict
    head_len = 2 * len(dispatch) + 1
    for i, (token, start) in enumerate(dispatch):
        program += [(_JEQ, 0, 1, token), (_JA, 0, 0, head_len - 2 * i - 2 + start)]
    program.append((_RET_K, 0, 0, RET_KILL_PROCESS))
    program += bodies
    if len(program) > 4096:
        raise ValueError(f"seccomp: program too long ({len(program)} instructions)")
    return b"".join(struct.pack("=HBBI", code, jt, jf, k) for code, jt, jf, k in program)


def install(program: bytes) -> None:
    """Load ``program`` into the calling thread (needs no_new_privs or CAP_SYS_ADMIN)."""
    from wharf.linux import syscalls
    syscalls.seccomp_set_filter(program)


#: compiled programs by their OCI profile: compiling costs ~6 ms, and nearly
#: every container has the default profile for the default capabilities.
_compiled: dict[str, bytes] = {}


def program_for(spec: dict[str, Any]) -> bytes | None:
    """The compiled filter of a bundle's spec, or None when it has no ``linux.seccomp``."""
    oci = (spec.get("linux") or {}).get("seccomp")
    if not oci:
        return None
    key = json.dumps(oci, sort_keys=True)
    program = _compiled.get(key)
    if program is None:
        program = _compiled[key] = compile_filter(oci)
    return program


def warm_default(capabilities: list[str]) -> None:
    """Compile Docker's profile for ``capabilities`` now, in a process whose
    forks (the shims) then inherit the result."""
    program_for({"linux": {"seccomp": to_oci(load_default(), capabilities)}})
