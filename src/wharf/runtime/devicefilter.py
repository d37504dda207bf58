"""The device allowlist on cgroup v2: an eBPF program instead of devices.allow.

cgroup v2 has no devices controller; the kernel asks a BPF_CGROUP_DEVICE
program attached to the cgroup instead (``struct bpf_cgroup_dev_ctx``:
access_type = access << 16 | type, major, minor). ``program`` turns OCI
``linux.resources.devices`` rules into one, with v1's meaning: later rules
override earlier ones, so they are tested last-first and the first match
decides; no match denies.
"""

from __future__ import annotations

import os
import struct
from typing import Any

from wharf.linux import syscalls as sc

_TYPES = {"b": 1, "c": 2}
_ACCESS = {"m": 1, "r": 2, "w": 4}

# eBPF opcodes
_LDX_W = 0x61       # BPF_LDX | BPF_MEM | BPF_W
_MOV32_X = 0xBC     # BPF_ALU | BPF_MOV | BPF_X
_AND32_K = 0x54
_RSH32_K = 0x74
_MOV64_K = 0xB7
_JNE_K = 0x55       # BPF_JMP | BPF_JNE | BPF_K
_EXIT = 0x95


def _insn(code: int, dst: int = 0, src: int = 0, off: int = 0, imm: int = 0) -> bytes:
    return struct.pack("<BBhi", code, dst | src << 4, off, imm)


def _rule(rule: dict[str, Any]) -> list[bytes]:
    """Tests that jump past this rule when it does not match, then its verdict."""
    groups: list[list[bytes]] = []  # each ends in the jump that rejects the rule
    kind = rule.get("type", "a")
    if kind in _TYPES:
        groups.append([_insn(_JNE_K, 2, imm=_TYPES[kind])])
    access = sum(_ACCESS[c] for c in set(rule.get("access") or "rwm") if c in _ACCESS)
    if access != 7:  # any requested bit outside the rule's: no match
        groups.append([_insn(_MOV32_X, 1, 3), _insn(_AND32_K, 1, imm=~access & 7),
                       _insn(_JNE_K, 1, imm=0)])
    for reg, key in ((4, "major"), (5, "minor")):
        if rule.get(key) is not None and rule[key] >= 0:
            groups.append([_insn(_JNE_K, reg, imm=rule[key])])
    verdict = [_insn(_MOV64_K, 0, imm=1 if rule.get("allow") else 0), _insn(_EXIT)]
    total = sum(len(g) for g in groups) + len(verdict)
    out: list[bytes] = []
    for group in groups:
        out += group[:-1]
        code, regs, _, imm = struct.unpack("<BBhi", group[-1])
        out.append(struct.pack("<BBhi", code, regs, total - len(out) - 1, imm))
    return out + verdict


def program(rules: list[dict[str, Any]]) -> bytes:
    """The eBPF device program of OCI device rules."""
    head = [_insn(_LDX_W, 2, 1, 0), _insn(_MOV32_X, 3, 2), _insn(_AND32_K, 2, imm=0xFFFF),
            _insn(_RSH32_K, 3, imm=16), _insn(_LDX_W, 4, 1, 4), _insn(_LDX_W, 5, 1, 8)]
    body: list[bytes] = []
    for rule in reversed(rules):
        block = _rule(rule)
        body += block
        if len(block) == 2:  # unconditional: what follows is unreachable (the verifier refuses it)
            return b"".join(head + body)
    return b"".join(head + body + [_insn(_MOV64_K, 0, imm=0), _insn(_EXIT)])


def attach(cgroup_dir: str, rules: list[dict[str, Any]]) -> None:
    """Load the program of ``rules`` and attach it to a cgroup v2 directory."""
    prog = sc.bpf_prog_load(sc.BPF_PROG_TYPE_CGROUP_DEVICE, program(rules))
    try:
        target = os.open(cgroup_dir, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        try:
            sc.bpf_prog_attach(target, prog, sc.BPF_CGROUP_DEVICE)
        finally:
            os.close(target)
    finally:
        os.close(prog)
