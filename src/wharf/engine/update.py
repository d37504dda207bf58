"""``docker update``: a container's resources and restart policy changed, in its
record and, while it runs, live in its cgroup.

dockerd's rules and words (moby ``daemon/update.go``, ``container.UpdateContainer``):
the request is checked alone first (a 400 in plain words); then merged into
the HostConfig, where a zero field keeps its value and a change that
contradicts what is set is refused as "Cannot update container <id>:
Conflicting options: ...". A cgroup that refuses the new limit (memory below
what the container uses) leaves the record as it was.
"""

from __future__ import annotations

import errno
import os
from typing import Any

from wharf.config import DaemonConfig
from wharf.engine import validate
from wharf.engine.launch import resources
from wharf.errors import InvalidParameter, WharfError
from wharf.runtime import cgroups

#: what an update may carry (HostConfig's Resources, and RestartPolicy), with types
UPDATE_TYPES = {key: validate.HOST_CONFIG_TYPES[key] for key in (
    "BlkioWeight", "CpuShares", "NanoCpus", "CpuPeriod", "CpuQuota", "CpusetCpus",
    "CpusetMems", "Memory", "MemorySwap", "MemoryReservation", "PidsLimit", "RestartPolicy")}
BLKIO_UNSUPPORTED = ("Your kernel does not support Block I/O weight or the cgroup is not "
                     "mounted. Weight discarded.")


class _Failed(WharfError):
    """The cgroup refused the new limits (dockerd: a system error, 500)."""

    status = 500


#: Per controller a rootless daemon's delegated cgroup may lack: the limits it drops
#: then (key → what it becomes) and dockerd's warning (verifyPlatformContainerResources).
_UNDELEGATED = (
    ("memory", {"Memory": 0, "MemorySwap": 0},
     "Your kernel does not support memory limit capabilities or the cgroup is not mounted. "
     "Limitation discarded."),
    ("memory", {"MemoryReservation": 0},
     "Your kernel does not support memory soft limit capabilities or the cgroup is not "
     "mounted. Limitation discarded."),
    ("pids", {"PidsLimit": None},
     "Your kernel does not support PIDs limit capabilities or the cgroup is not mounted. "
     "PIDs limit discarded."),
    ("cpu", {"CpuShares": 0},
     "Your kernel does not support CPU shares or the cgroup is not mounted. Shares discarded."),
    ("cpu", {"CpuPeriod": 0, "CpuQuota": 0},
     "Your kernel does not support CPU CFS scheduler. CPU period/quota discarded."),
    ("cpuset", {"CpusetCpus": "", "CpusetMems": ""},
     "Your kernel does not support cpuset or the cgroup is not mounted. Cpuset discarded."),
)


def unsupported(hc: dict[str, Any], config: DaemonConfig) -> list[str]:
    """dockerd's warnings for limits this host cannot set; those are discarded (in place).
    A rootless daemon's delegated cgroup has the controllers its parent let through."""
    warnings = []
    delegated = set(config.delegated_controllers) if config.delegated_cgroup else None
    if hc.get("BlkioWeight") and not (cgroups.blkio_weight_supported() if delegated is None
                                      else "io" in delegated):
        warnings.append(BLKIO_UNSUPPORTED)
        hc["BlkioWeight"] = 0
    if delegated is None:
        return warnings
    if (hc.get("NanoCpus") or 0) > 0 and "cpu" not in delegated:
        raise InvalidParameter("NanoCPUs can not be set, as your kernel does not support CPU "
                               "CFS scheduler or the cgroup is not mounted")
    for controller, dropped, warning in _UNDELEGATED:
        if controller not in delegated and any(_asked(hc, key) for key in dropped):
            warnings.append(warning)
            hc.update(dropped)
    return warnings


def _asked(hc: dict[str, Any], key: str) -> bool:
    """Whether ``hc`` sets the limit ``key`` (a PidsLimit of 0 or -1 is no limit)."""
    value = hc.get(key)
    return (value or 0) > 0 if key == "PidsLimit" else bool(value)


def _available_cpus() -> set[int]:
    return set(os.sched_getaffinity(0))


def _cpu_list(text: str) -> set[int]:
    out: set[int] = set()
    for part in filter(None, text.split(",")):
        first, _, last = part.partition("-")
        out.update(range(int(first), int(last or first) + 1))
    return out


def request(body: Any, config: DaemonConfig) -> tuple[dict[str, Any], list[str]]:
    """The update's fields, checked alone as dockerd's verifyContainerSettings; and
    the warnings of what this host cannot set."""
    if not isinstance(body, dict):
        raise InvalidParameter("invalid JSON: the body must be an object")
    validate.check_types(body, UPDATE_TYPES, "UpdateConfig")
    changes = {k: v for k, v in body.items() if k in UPDATE_TYPES and v is not None}
    validate.check_resources(changes, update=True)
    if (changes.get("RestartPolicy") or {}).get("Name"):
        validate.restart_policy(changes)
    if changes.get("CpusetCpus"):
        try:
            wanted = _cpu_list(changes["CpusetCpus"])
        except ValueError:
            raise InvalidParameter(f"Invalid value {changes['CpusetCpus']} for cpuset cpus") from None
        if not wanted <= _available_cpus():
            available = ",".join(str(n) for n in sorted(_available_cpus()))
            raise InvalidParameter(f"Requested CPUs are not available - requested "
                                   f"{changes['CpusetCpus']}, available: {available}")
    return changes, unsupported(changes, config)


def merged(cid: str, hc: dict[str, Any], changes: dict[str, Any]) -> dict[str, Any]:
    """The HostConfig after the update (moby's UpdateContainer)."""
    def conflict(why: str) -> InvalidParameter:
        return InvalidParameter(f"Cannot update container {cid}: Conflicting options: {why}")

    nano, period, quota = (changes.get(k) or 0 for k in ("NanoCpus", "CpuPeriod", "CpuQuota"))
    if nano > 0 and (hc.get("CpuPeriod") or 0) > 0:
        raise conflict("Nano CPUs cannot be updated as CPU Period has already been set")
    if nano > 0 and (hc.get("CpuQuota") or 0) > 0:
        raise conflict("Nano CPUs cannot be updated as CPU Quota has already been set")
    if period > 0 and (hc.get("NanoCpus") or 0) > 0:
        raise conflict("CPU Period cannot be updated as NanoCPUs has already been set")
    if quota > 0 and (hc.get("NanoCpus") or 0) > 0:
        raise conflict("CPU Quota cannot be updated as NanoCPUs has already been set")
    memory = changes.get("Memory") or 0
    if memory and memory > (hc.get("MemorySwap") or 0) and not changes.get("MemorySwap"):
        raise InvalidParameter(f"Cannot update container {cid}: Memory limit should be smaller "
                               "than already set memoryswap limit, update the memoryswap at the "
                               "same time")
    policy = changes.get("RestartPolicy") or {}
    if policy.get("Name") and hc.get("AutoRemove") and policy["Name"] != "no":
        raise InvalidParameter(f"Cannot update container {cid}: Restart policy cannot be "
                               "updated because AutoRemove is enabled for the container")
    out = dict(hc)
    for key, value in changes.items():
        if key == "PidsLimit" or (key != "RestartPolicy" and value):
            out[key] = value
    if policy.get("Name"):
        out["RestartPolicy"] = {"Name": policy["Name"],
                                "MaximumRetryCount": policy.get("MaximumRetryCount") or 0}
    return out


def apply(cid: str, cgroups_path: str, hc: dict[str, Any], changes: dict[str, Any]) -> None:
    """Write the updated limits into the running container's cgroup (blocking)."""
    limits = resources(hc).to_oci()
    limits.pop("devices", None)  # the device rules do not change
    if "PidsLimit" in changes and (changes["PidsLimit"] or 0) <= 0:
        limits["pids"] = {"limit": -1}  # 0 or -1: unlimited again
    cg = cgroups.open(cgroups_path)
    try:
        cg.apply(limits)
    except OSError as e:
        if e.errno != errno.EBUSY:
            raise _Failed(f"Cannot update container {cid}: {os.strerror(e.errno or 0)}") from None
        memory = cg.stats()["memory_stats"]
        raise _Failed(f"Cannot update container {cid}: unable to set memory limit to "
                      f"{hc.get('Memory')} (current usage: {memory.get('usage', 0)}, peak usage: "
                      f"{memory.get('max_usage', 0)})") from None
