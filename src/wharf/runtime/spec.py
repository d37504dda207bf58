"""Build the OCI runtime spec (``config.json``) of a container from plain inputs.

This is the one contract between the engine and every runtime (the
in-process one and runc/crun), so Docker's defaults live here: the default
mounts, masked and read-only /proc paths, the device allowlist, and the
``--init``, ``--privileged`` and ``--read-only`` rewrites, all written the way
moby's ``oci`` package writes them so an external runtime sees what Docker
would hand it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from wharf.runtime import caps as capslib
from wharf.runtime.user import parse_user

__all__ = ["Resources", "build", "parse_user", "INIT_ANNOTATION", "INIT_PATH"]

INIT_ANNOTATION = "wharf.init"
#: Where Docker puts its init inside the container.
INIT_PATH = "/sbin/docker-init"

MASKED_PATHS = ["/proc/asound", "/proc/acpi", "/proc/kcore", "/proc/keys",
                "/proc/latency_stats", "/proc/timer_list", "/proc/timer_stats",
                "/proc/sched_debug", "/proc/scsi", "/sys/firmware"]
READONLY_PATHS = ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"]

#: Device nodes every container may use (runc's AllowedDevices, which Docker relies on).
_ALLOWED_DEVICES = [("c", None, None, "m"), ("b", None, None, "m"),
                    ("c", 1, 3, "rwm"), ("c", 1, 8, "rwm"), ("c", 1, 7, "rwm"),
                    ("c", 5, 0, "rwm"), ("c", 1, 5, "rwm"), ("c", 1, 9, "rwm"),
                    ("c", 5, 1, "rwm"), ("c", 136, None, "rwm"), ("c", 5, 2, "rwm"),
                    ("c", 10, 200, "rwm")]

_NAMESPACES = ("pid", "network", "ipc", "uts", "mount", "cgroup")
_DEFAULT_SHM = 64 * 1024 * 1024


@dataclass
class Resources:
    """Container limits in Docker's HostConfig units (bytes, shares, microseconds).

    ``memory_swap`` is memory plus swap, -1 for unlimited, as ``--memory-swap``.
    """

    memory: int = 0
    memory_reservation: int = 0
    memory_swap: int = 0
    cpu_shares: int = 0
    cpu_quota: int = 0
    cpu_period: int = 0
    nano_cpus: int = 0
    cpuset_cpus: str = ""
    cpuset_mems: str = ""
    pids_limit: int = 0
    blkio_weight: int = 0
    #: Extra OCI device cgroup rules (``--device-cgroup-rule``, ``--device``).
    devices: list[dict[str, Any]] = field(default_factory=list)

    def to_oci(self, privileged: bool = False) -> dict[str, Any]:
        """OCI ``linux.resources``; zero means "not set", as in Docker."""
        memory = _nonzero({"limit": self.memory, "reservation": self.memory_reservation,
                           "swap": self.memory_swap})
        quota, period = self.cpu_quota, self.cpu_period
        if self.nano_cpus:
            period = period or 100000
            quota = self.nano_cpus * period // 1_000_000_000
        cpu = _nonzero({"shares": self.cpu_shares, "quota": quota, "period": period,
                        "cpus": self.cpuset_cpus, "mems": self.cpuset_mems})
        out: dict[str, Any] = {"devices": _devices(privileged) + list(self.devices)}
        if memory:
            out["memory"] = memory
        if cpu:
            out["cpu"] = cpu
        if self.pids_limit:
            out["pids"] = {"limit": self.pids_limit}
        if self.blkio_weight:
            out["blockIO"] = {"weight": self.blkio_weight}
        return out


def _nonzero(d: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in d.items() if v}


def _devices(privileged: bool) -> list[dict[str, Any]]:
    if privileged:
        return [{"allow": True, "access": "rwm"}]
    rules: list[dict[str, Any]] = [{"allow": False, "access": "rwm"}]
    for kind, major, minor, access in _ALLOWED_DEVICES:
        rule: dict[str, Any] = {"allow": True, "type": kind, "access": access}
        if major is not None:
            rule["major"] = major
        if minor is not None:
            rule["minor"] = minor
        rules.append(rule)
    return rules


def _default_mounts(privileged: bool, shm_size: int) -> list[dict[str, Any]]:
    sys_mode = "rw" if privileged else "ro"
    return [
        {"destination": "/proc", "type": "proc", "source": "proc",
         "options": ["nosuid", "noexec", "nodev"]},
        {"destination": "/dev", "type": "tmpfs", "source": "tmpfs",
         "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]},
        {"destination": "/dev/pts", "type": "devpts", "source": "devpts",
         "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"]},
        {"destination": "/sys", "type": "sysfs", "source": "sysfs",
         "options": ["nosuid", "noexec", "nodev", sys_mode]},
        {"destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup",
         "options": ["nosuid", "noexec", "nodev", sys_mode]},
        {"destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue",
         "options": ["nosuid", "noexec", "nodev"]},
        {"destination": "/dev/shm", "type": "tmpfs", "source": "shm",
         "options": ["nosuid", "noexec", "nodev", "mode=1777", f"size={shm_size}"]},
    ]


def _namespaces(requested: dict[str, str] | None) -> list[dict[str, str]]:
    """OCI namespace list: "private" → new one, "host" → no entry, else a path to join.

    The cgroup namespace is the host's unless asked for: Docker's default on a v1 host
    (the engine asks "private" on v2, as Docker does there).
    """
    wanted = {kind: "private" for kind in _NAMESPACES}
    wanted["cgroup"] = "host"
    wanted.update(requested or {})
    out = []
    for kind in _NAMESPACES:
        how = wanted[kind]
        if how == "host" and kind != "mount":
            continue
        out.append({"type": kind} if how in ("private", "host") else {"type": kind, "path": how})
    return out


def build(*, args: list[str], rootfs: str, env: list[str] | None = None, cwd: str = "/",
          uid: int = 0, gid: int = 0, additional_gids: list[int] | None = None,
          hostname: str = "", tty: bool = False, console_size: tuple[int, int] | None = None,
          cgroups_path: str = "", resources: Resources | None = None,
          binds: list[dict[str, Any]] | None = None, capabilities: list[str] | None = None,
          rlimits: list[dict[str, Any]] | None = None, no_new_privs: bool = True,
          namespaces: dict[str, str] | None = None, shm_size: int = 0,
          init: str | None = None, readonly_rootfs: bool = False,
          privileged: bool = False, annotations: dict[str, str] | None = None,
          seccomp: dict[str, Any] | None = None, devices: list[dict[str, Any]] | None = None,
          sysctls: dict[str, str] | None = None, masked_paths: list[str] | None = None,
          readonly_paths: list[str] | None = None,
          id_mappings: tuple[list[dict[str, int]], list[dict[str, int]]] | None = None,
          rootfs_propagation: str = "") -> dict[str, Any]:
    """The OCI runtime spec of one container.

    ``binds`` are OCI mounts added after the defaults (the per-container
    /etc/hostname, /etc/hosts, /etc/resolv.conf and volumes). ``capabilities``
    defaults to Docker's set (or all of the host's when ``privileged``); as in
    Docker, a non-root user gets them only in the bounding set. ``init`` is
    the host path of a static init (tini) to run as PID 1: it is bind-mounted
    at /sbin/docker-init and the command becomes its argument, so every
    runtime runs it the same way. ``seccomp`` (OCI ``linux.seccomp``),
    ``devices`` (extra nodes) and ``sysctls`` come from ``wharf.engine.security``.
    ``masked_paths``/``readonly_paths`` replace the defaults when given (Docker's
    HostConfig fields, the CRI's security context); a privileged container has none.
    ``id_mappings`` (uid and gid mappings, OCI's shape) put it in a user namespace of
    its own. ``rootfs_propagation`` is OCI's ``linux.rootfsPropagation`` (rslave when
    empty, runc's default).
    """
    if capabilities is None:
        capabilities = capslib.all_capabilities() if privileged else list(capslib.DEFAULT)
    cap_sets: dict[str, list[str]] = {"bounding": capabilities}
    if uid == 0:
        cap_sets.update(effective=capabilities, permitted=capabilities)
    mounts = _default_mounts(privileged, shm_size or _DEFAULT_SHM) + list(binds or [])
    notes = dict(annotations or {})
    if init:
        args = [INIT_PATH, "--", *args]
        mounts.append({"destination": INIT_PATH, "type": "bind", "source": init,
                       "options": ["bind", "ro"]})
        notes[INIT_ANNOTATION] = init
    process: dict[str, Any] = {
        "terminal": tty, "args": list(args), "env": list(env or []), "cwd": cwd or "/",
        "user": {"uid": uid, "gid": gid, "additionalGids": list(additional_gids or [])},
        "capabilities": cap_sets, "rlimits": list(rlimits or []),
        "noNewPrivileges": no_new_privs and not privileged,
    }
    if tty and console_size:
        process["consoleSize"] = {"height": console_size[0], "width": console_size[1]}
    ns = _namespaces(namespaces)
    linux: dict[str, Any] = {
        "namespaces": ns,
        "resources": (resources or Resources()).to_oci(privileged),
        "maskedPaths": [] if privileged else list(
            MASKED_PATHS if masked_paths is None else masked_paths),
        "readonlyPaths": [] if privileged else list(
            READONLY_PATHS if readonly_paths is None else readonly_paths),
    }
    if id_mappings:
        ns.append({"type": "user"})
        linux["uidMappings"], linux["gidMappings"] = id_mappings
    if rootfs_propagation:
        linux["rootfsPropagation"] = rootfs_propagation
    if cgroups_path:
        linux["cgroupsPath"] = cgroups_path
    if seccomp:
        linux["seccomp"] = seccomp
    if devices:
        linux["devices"] = devices
    if sysctls:
        linux["sysctl"] = dict(sysctls)
    spec: dict[str, Any] = {
        "ociVersion": "1.0.2", "process": process,
        "root": {"path": rootfs, "readonly": readonly_rootfs},
        "mounts": mounts, "linux": linux, "annotations": notes,
    }
    if hostname and any(n["type"] == "uts" and "path" not in n for n in ns):
        spec["hostname"] = hostname
    return spec
