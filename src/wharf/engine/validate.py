"""Validation of ``POST /containers/create`` bodies, with dockerd's messages.

Docker decodes the body into Go structs, so a wrong JSON type is a 400
("json: cannot unmarshal ..."), then checks the HostConfig for impossible
values. We do the same before any state is created, so a refused create
leaves nothing behind.
"""

from __future__ import annotations

import os
from typing import Any

from wharf.errors import InvalidParameter

_GO_TYPE = {str: "string", bool: "bool", int: "int64", list: "[]string", dict: "map"}

#: Config fields and the JSON type Docker's struct gives them (None allowed everywhere).
CONFIG_TYPES: dict[str, type] = {
    "Hostname": str, "Domainname": str, "User": str, "AttachStdin": bool, "AttachStdout": bool,
    "AttachStderr": bool, "ExposedPorts": dict, "Tty": bool, "OpenStdin": bool,
    "StdinOnce": bool, "Env": list, "Image": str, "Volumes": dict, "WorkingDir": str,
    "NetworkDisabled": bool, "MacAddress": str, "OnBuild": list, "Labels": dict,
    "StopSignal": str, "StopTimeout": int, "Shell": list, "HostConfig": dict,
    "NetworkingConfig": dict, "Healthcheck": dict,
}
HOST_CONFIG_TYPES: dict[str, type] = {
    "Binds": list, "NetworkMode": str, "PortBindings": dict, "RestartPolicy": dict,
    "AutoRemove": bool, "VolumeDriver": str, "VolumesFrom": list, "CapAdd": list,
    "CapDrop": list, "Dns": list, "DnsOptions": list, "DnsSearch": list, "ExtraHosts": list,
    "GroupAdd": list, "IpcMode": str, "Cgroup": str, "Links": list, "OomScoreAdj": int,
    "PidMode": str, "Privileged": bool, "PublishAllPorts": bool, "ReadonlyRootfs": bool,
    "SecurityOpt": list, "Tmpfs": dict, "UTSMode": str, "UsernsMode": str, "ShmSize": int,
    "Sysctls": dict, "Runtime": str, "Isolation": str, "CpuShares": int, "Memory": int,
    "NanoCpus": int, "CgroupParent": str, "CpuPeriod": int, "CpuQuota": int,
    "CpusetCpus": str, "CpusetMems": str, "Devices": list, "MemoryReservation": int,
    "MemorySwap": int, "MemorySwappiness": int, "OomKillDisable": bool, "PidsLimit": int,
    "Ulimits": list, "Init": bool, "LogConfig": dict, "Mounts": list, "BlkioWeight": int,
    "MaskedPaths": list, "ReadonlyPaths": list, "IDMapping": dict,
}
RESTART_POLICIES = ("", "no", "always", "unless-stopped", "on-failure")
MIN_MEMORY = 6 * 1024 * 1024


def check_types(obj: dict[str, Any], types: dict[str, type], struct: str) -> None:
    for key, want in types.items():
        value = obj.get(key)
        if value is None:
            continue
        ok = isinstance(value, want) and not (want is int and isinstance(value, bool))
        if not ok:
            got = {str: "string", bool: "bool", int: "number", float: "number", list: "array",
                   dict: "object"}.get(type(value), "value")
            raise InvalidParameter(f"json: cannot unmarshal {got} into Go struct field "
                                   f"{struct}.{key} of type {_GO_TYPE[want]}")


def _command(value: Any, field: str) -> list[str] | None:
    """Cmd/Entrypoint: Docker's StrSlice accepts a string or a list of strings."""
    if value is None:
        return None
    if isinstance(value, str):
        return [value]
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return list(value)
    raise InvalidParameter(f"json: cannot unmarshal into Go struct field Config.{field} "
                           "of type strslice.StrSlice")


def restart_policy(hc: dict[str, Any]) -> tuple[str, int]:
    policy = hc.get("RestartPolicy") or {}
    name = policy.get("Name") or ""
    count = policy.get("MaximumRetryCount") or 0
    if name not in RESTART_POLICIES:
        raise InvalidParameter(f"invalid restart policy '{name}'")
    if count < 0:
        raise InvalidParameter("maximum retry count cannot be negative")
    if count and name != "on-failure":
        raise InvalidParameter(f"maximum retry count cannot be used with restart policy '{name}'")
    return name or "no", count


def check_resources(hc: dict[str, Any], update: bool = False) -> None:
    """dockerd's verifyPlatformContainerResources; for an ``update`` the request
    alone is checked (a swap limit needs no memory limit in the same request)."""
    memory = hc.get("Memory") or 0
    swap = hc.get("MemorySwap") or 0
    for key in ("Memory", "MemoryReservation", "CpuShares", "CpuPeriod", "NanoCpus", "ShmSize"):
        if (hc.get(key) or 0) < 0:
            raise InvalidParameter(f"invalid {key}: must be a positive value")
    if memory and memory < MIN_MEMORY:
        raise InvalidParameter("Minimum memory limit allowed is 6MB")
    if swap > 0 and memory and swap < memory:
        raise InvalidParameter("Minimum memoryswap limit should be larger than memory limit, "
                               "see usage")
    if swap > 0 and not memory and not update:
        raise InvalidParameter("You should always set the Memory limit when using Memoryswap "
                               "limit, see usage")
    reservation = hc.get("MemoryReservation") or 0
    if memory and reservation > memory:
        raise InvalidParameter("Minimum memory limit can not be less than memory reservation "
                               "limit, see usage")
    nano = hc.get("NanoCpus") or 0
    if nano and hc.get("CpuPeriod"):
        raise InvalidParameter("Conflicting options: Nano CPUs and CPU Period cannot both be set")
    if nano and hc.get("CpuQuota"):
        raise InvalidParameter("Conflicting options: Nano CPUs and CPU Quota cannot both be set")
    weight = hc.get("BlkioWeight") or 0
    if weight and not 10 <= weight <= 1000:
        raise InvalidParameter("Range of blkio weight is from 10 to 1000")
    ncpu = os.cpu_count() or 1
    if nano and not 10_000_000 <= nano <= ncpu * 1_000_000_000:
        raise InvalidParameter(f"Range of CPUs is from 0.01 to {ncpu}.00, as there are only "
                               f"{ncpu} CPUs available")
    period = hc.get("CpuPeriod") or 0
    if period and not 1000 <= period <= 1_000_000:
        raise InvalidParameter("CPU cfs period can not be less than 1ms (i.e. 1000) or larger "
                               "than 1s (i.e. 1000000)")
    quota = hc.get("CpuQuota") or 0
    if quota and quota < 1000:
        raise InvalidParameter("CPU cfs quota can not be less than 1ms (i.e. 1000)")


def create_body(body: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    """(Config, HostConfig) of a create body, type-checked and validated."""
    if not isinstance(body, dict):
        raise InvalidParameter("json: cannot unmarshal array into Go value of type "
                               "container.configWrapper" if isinstance(body, list) else
                               "invalid JSON: the body must be an object")
    check_types(body, CONFIG_TYPES, "Config")
    config = {k: v for k, v in body.items() if k not in ("HostConfig", "NetworkingConfig")}
    config["Cmd"] = _command(body.get("Cmd"), "Cmd")
    config["Entrypoint"] = _command(body.get("Entrypoint"), "Entrypoint")
    if not config.get("Image"):
        raise InvalidParameter("Config.Image must be set: no image specified")
    for item in config.get("Env") or []:
        if not isinstance(item, str) or item.startswith("="):
            raise InvalidParameter(f"invalid environment variable: {item}")
    hc = dict(body.get("HostConfig") or {})
    check_types(hc, HOST_CONFIG_TYPES, "HostConfig")
    check_resources(hc)
    name, _ = restart_policy(hc)
    if hc.get("AutoRemove") and name != "no":
        raise InvalidParameter("conflicting options: cannot specify both --restart and --rm")
    return config, hc
