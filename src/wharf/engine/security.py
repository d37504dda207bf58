"""A container's HostConfig security fields, turned into runtime spec inputs.

Docker decides these in its daemon (``oci_linux.go``): capabilities after
``--cap-add``/``--cap-drop``/``--privileged``, the seccomp profile evaluated
against those capabilities, no_new_privs, extra device nodes and their
cgroup rules, extra groups and namespaced sysctls. ``validate`` refuses bad
values at create with Docker's words; ``inputs`` computes the rest at start.
"""

from __future__ import annotations

import json
import os
import re
import stat
from dataclasses import dataclass, field
from typing import Any

from wharf.errors import InvalidParameter
from wharf.linux.paths import secure_join
from wharf.runtime import caps as capslib
from wharf.runtime import seccomp

#: Sysctls that are namespaced (Docker's opts.ValidateSysctl allowlist).
_SYSCTL_NAMES = {"kernel.msgmax", "kernel.msgmnb", "kernel.msgmni", "kernel.sem",
                 "kernel.shmall", "kernel.shmmax", "kernel.shmmni", "kernel.shm_rmid_forced"}
_SYSCTL_PREFIXES = ("net.", "fs.mqueue.")
_CGROUP_RULE = re.compile(r"^([acb]) ([0-9]+|\*):([0-9]+|\*) ([rwm]{1,3})$")
#: /dev entries Docker's HostDevices skips for --privileged.
_SKIP_DEV = {"pts", "shm", "fd", "mqueue", ".lxc", ".lxd-mounts", ".udev", "console"}


@dataclass
class SecurityInputs:
    """What spec.build needs beyond the defaults."""

    capabilities: list[str] | None
    no_new_privs: bool
    seccomp: dict[str, Any] | None
    devices: list[dict[str, Any]] = field(default_factory=list)      # OCI linux.devices
    cgroup_rules: list[dict[str, Any]] = field(default_factory=list)  # OCI resources.devices
    sysctls: dict[str, str] = field(default_factory=dict)


def _opts(hc: dict[str, Any]) -> list[tuple[str, str]]:
    """SecurityOpt as (key, value): ``seccomp=x``, ``seccomp:x`` (old form), bare flags."""
    out = []
    for i, opt in enumerate(hc.get("SecurityOpt") or [], 1):
        if opt == "no-new-privileges":
            out.append(("no-new-privileges", "true"))
            continue
        sep = "=" if "=" in opt else ":"
        key, found, value = opt.partition(sep)
        if not found or key not in ("seccomp", "no-new-privileges", "apparmor", "label",
                                    "systempaths", "writable-cgroups"):
            raise InvalidParameter(f'invalid --security-opt {i}: "{opt}"')
        out.append((key, value))
    return out


def _no_new_privs(opts: list[tuple[str, str]]) -> bool:
    value = dict(opts).get("no-new-privileges", "false")
    if value not in ("true", "false", "1", "0"):
        raise InvalidParameter(f"invalid --security-opt 2: \"no-new-privileges={value}\"")
    return value in ("true", "1")


def _profile(opts: list[tuple[str, str]]) -> dict[str, Any] | None:
    """The Docker profile asked for: None for unconfined, the default, or a sent JSON one."""
    value = dict(opts).get("seccomp", "")
    if value == "unconfined":
        return None
    if value in ("", "builtin"):
        return seccomp.load_default()
    try:
        profile = json.loads(value)
    except ValueError as e:
        raise InvalidParameter(f"Decoding seccomp profile failed: {e}") from None
    if not isinstance(profile, dict) or "defaultAction" not in profile:
        raise InvalidParameter("Decoding seccomp profile failed: the profile has no defaultAction")
    return profile


def check_sysctl(name: str) -> None:
    """Only sysctls that live in a namespace the container owns."""
    if name not in _SYSCTL_NAMES and not name.startswith(_SYSCTL_PREFIXES):
        raise InvalidParameter(f"sysctl '{name}' is not whitelisted")


def _cgroup_rule(rule: str) -> dict[str, Any]:
    m = _CGROUP_RULE.match(rule)
    if not m:
        raise InvalidParameter(f"invalid device cgroup format '{rule}'")
    kind, major, minor, access = m.groups()
    out: dict[str, Any] = {"allow": True, "type": kind, "access": access}
    if major != "*":
        out["major"] = int(major)
    if minor != "*":
        out["minor"] = int(minor)
    return out


def validate(hc: dict[str, Any]) -> None:
    """Refuse at create what Docker refuses (options, sysctls, cgroup rules, userns)."""
    opts = _opts(hc)
    _no_new_privs(opts)
    _profile(opts)
    for name in hc.get("Sysctls") or {}:
        check_sysctl(name)
        if name.startswith("net.") and hc.get("NetworkMode") == "host":
            raise InvalidParameter(f'sysctl "{name}" not allowed in host network namespace')
    for rule in hc.get("DeviceCgroupRules") or []:
        _cgroup_rule(rule)
    if (hc.get("UsernsMode") or "host") != "host":
        raise InvalidParameter(f"invalid USER mode: {hc['UsernsMode']}")


def _device(path: str, in_container: str, access: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """(OCI linux.devices entry, cgroup rule) of one host device node."""
    try:
        st = os.stat(path)
    except OSError as e:
        raise InvalidParameter(f'error gathering device information while adding custom device '
                               f'"{path}": {os.strerror(e.errno).lower()}') from None
    if stat.S_ISCHR(st.st_mode):
        kind = "c"
    elif stat.S_ISBLK(st.st_mode):
        kind = "b"
    else:
        raise InvalidParameter(f'error gathering device information while adding custom device '
                               f'"{path}": not a device node')
    major, minor = os.major(st.st_rdev), os.minor(st.st_rdev)
    node = {"path": in_container, "type": kind, "major": major, "minor": minor,
            "fileMode": stat.S_IMODE(st.st_mode), "uid": st.st_uid, "gid": st.st_gid}
    return node, {"allow": True, "type": kind, "major": major, "minor": minor, "access": access}


def host_devices(root: str = "/dev") -> list[dict[str, Any]]:
    """Every device node of the host (``--privileged``), as OCI linux.devices."""
    out = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = [d for d in dirnames if d not in _SKIP_DEV]
        for name in filenames:
            if name in _SKIP_DEV:
                continue
            path = os.path.join(dirpath, name)
            try:
                node, _ = _device(path, path, "rwm")
            except InvalidParameter:
                continue
            out.append(node)
    return out


def inputs(hc: dict[str, Any]) -> SecurityInputs:
    """Spec inputs of a HostConfig (already ``validate``d at create)."""
    privileged = bool(hc.get("Privileged"))
    opts = _opts(hc)
    capabilities = (capslib.effective_set(hc.get("CapAdd"), hc.get("CapDrop"), privileged)
                    if hc.get("CapAdd") or hc.get("CapDrop") or privileged else None)
    profile = None if privileged else _profile(opts)
    granted = capabilities if capabilities is not None else list(capslib.DEFAULT)
    out = SecurityInputs(capabilities=capabilities, no_new_privs=_no_new_privs(opts),
                         seccomp=seccomp.to_oci(profile, granted) if profile else None,
                         sysctls={k: str(v) for k, v in (hc.get("Sysctls") or {}).items()})
    if privileged:
        out.devices = host_devices()
    for dev in hc.get("Devices") or []:
        host = dev.get("PathOnHost") or ""
        node, rule = _device(host, dev.get("PathInContainer") or host,
                             dev.get("CgroupPermissions") or "rwm")
        out.devices.append(node)
        out.cgroup_rules.append(rule)
    out.cgroup_rules += [_cgroup_rule(r) for r in hc.get("DeviceCgroupRules") or []]
    return out


def group_ids(groups: list[str], rootfs: str) -> list[int]:
    """``--group-add`` entries as gids: numbers as they are, names from the image's /etc/group."""
    by_name: dict[str, int] = {}
    try:
        with open(secure_join(rootfs, "/etc/group"), errors="replace") as f:
            for line in f:
                parts = line.strip().split(":")
                if len(parts) >= 3 and parts[2].isdigit():
                    by_name.setdefault(parts[0], int(parts[2]))
    except OSError:
        pass
    out = []
    for g in groups:
        if g.isdigit():
            out.append(int(g))
        elif g in by_name:
            out.append(by_name[g])
        else:
            raise InvalidParameter(f"Unable to find group {g}: no matching entries in group file")
    return out
