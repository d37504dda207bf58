"""System routes: ``/_ping``, ``/version``, ``/info``, ``/events``
(``docker version``, ``docker info``, ``docker events``)."""

from __future__ import annotations

import json
import os
import socket
import sys
import time
from contextlib import aclosing

from aiohttp import web

from wharf.api import params
from wharf.api.streams import end_with_client
from wharf.api.versions import API_VERSION, MIN_API_VERSION
from wharf.engine import filters as flt
from wharf.config import BUILTIN_RUNTIMES, DaemonConfig
from wharf.engine import hostinfo
from wharf.engine.logconfig import LOG_DRIVERS
from wharf.engine.events import EVENT_FILTERS
from wharf.engine.timefmt import parse_timestamp
from wharf.errors import InvalidParameter

routes = web.RouteTableDef()

#: The dockerd release whose API (1.43) wharf serves: clients that check the
#: version next to the API version see a consistent pair.
SERVER_VERSION = "24.0.9"
GIT_COMMIT = "wharf"


def _ping_headers() -> dict[str, str]:
    """dockerd 24's: the builder it recommends (wharf's is the classic one, "1") and
    whether it is in a swarm (API 1.42; never here)."""
    return {"API-Version": API_VERSION, "Builder-Version": "1", "Docker-Experimental": "false",
            "Ostype": "linux", "Swarm": "inactive",
            "Cache-Control": "no-cache, no-store, must-revalidate", "Pragma": "no-cache"}


@routes.get("/_ping")
async def ping(request: web.Request) -> web.Response:
    if request.method == "HEAD":
        return web.Response(headers=_ping_headers(), content_type="text/plain")
    return web.Response(text="OK", headers=_ping_headers(), content_type="text/plain")


@routes.get("/version")
async def version(request: web.Request) -> web.Response:
    kernel = hostinfo.kernel_version()
    go_version = f"python{sys.version_info.major}.{sys.version_info.minor}"
    details = {"ApiVersion": API_VERSION, "Arch": hostinfo.go_arch(), "BuildTime": "",
               "Experimental": "false", "GitCommit": GIT_COMMIT, "GoVersion": go_version,
               "KernelVersion": kernel, "MinAPIVersion": MIN_API_VERSION, "Os": "linux"}
    return params.json_response({
        "Platform": {"Name": "wharf"},
        "Components": [{"Name": "Engine", "Version": SERVER_VERSION, "Details": details}],
        "Version": SERVER_VERSION, "ApiVersion": API_VERSION, "MinAPIVersion": MIN_API_VERSION,
        "GitCommit": GIT_COMMIT, "GoVersion": go_version, "Os": "linux",
        "Arch": hostinfo.go_arch(), "KernelVersion": kernel, "BuildTime": "",
    })


@routes.get("/info")
async def info(request: web.Request) -> web.Response:
    engine = params.engine(request)
    config = engine.config
    counts = engine.containers.counts()
    os_name, os_version = hostinfo.operating_system()
    runtimes = {**{name: {"path": name} for name in BUILTIN_RUNTIMES}, **config.runtimes}
    cgroups = config.cgroup_driver != "none"  # dockerd reports no limit support then
    return params.json_response({
        "ID": engine.id,
        "Containers": counts["total"], "ContainersRunning": counts["running"],
        "ContainersPaused": counts["paused"], "ContainersStopped": counts["stopped"],
        "Images": await engine.images.count(),
        "Driver": config.storage_driver,
        "DriverStatus": [["Backing Filesystem", "extfs"], ["Supports d_type", "true"],
                         ["Native Overlay Diff", "true"], ["userxattr", "false"]]
                        if config.storage_driver == "overlay2" else [],  # vfs: dockerd's has none
        "Plugins": {"Volume": ["local"], "Network": ["bridge", "host", "none", "overlay"],
                    "Authorization": None, "Log": list(LOG_DRIVERS)},
        # KernelMemory and KernelMemoryTCP are left out, as dockerd 24 leaves them when unsupported
        **_limit_support(config, cgroups),
        "IPv4Forwarding": hostinfo.ip_forwarding(), "BridgeNfIptables": False,
        "BridgeNfIp6tables": False, "Debug": config.debug,
        "NFd": len(os.listdir("/proc/self/fd")),
        "NGoroutines": 0, "SystemTime": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "LoggingDriver": config.log_driver, "CgroupDriver": config.cgroup_driver,
        "CgroupVersion": hostinfo.cgroup_version(), "NEventsListener": engine.events.listeners,
        "KernelVersion": hostinfo.kernel_version(), "OperatingSystem": os_name,
        "OSVersion": os_version, "OSType": "linux", "Architecture": hostinfo.architecture(),
        "IndexServerAddress": "https://index.docker.io/v1/",
        "RegistryConfig": {
            "AllowNondistributableArtifactsCIDRs": [],
            "AllowNondistributableArtifactsHostnames": [],
            "InsecureRegistryCIDRs": ["127.0.0.0/8",
                                      *(r for r in config.insecure_registries if "/" in r)],
            "IndexConfigs": {
                **{r: {"Name": r, "Mirrors": [], "Secure": False, "Official": False}
                   for r in config.insecure_registries if "/" not in r},
                "docker.io": {"Name": "docker.io", "Mirrors": list(config.registry_mirrors),
                              "Secure": True, "Official": True}},
            "Mirrors": list(config.registry_mirrors)},
        "NCPU": os.cpu_count() or 1, "MemTotal": hostinfo.mem_total(),
        "GenericResources": None, "DockerRootDir": config.data_root,
        "HttpProxy": "", "HttpsProxy": "", "NoProxy": "", "Name": socket.gethostname(),
        "DefaultAddressPools": [{"Base": p["base"], "Size": p["size"]}
                                for p in config.default_address_pools] or None,
        "Labels": list(config.labels), "ExperimentalBuild": False, "ServerVersion": SERVER_VERSION,
        "Runtimes": runtimes, "DefaultRuntime": config.default_runtime,
        "Swarm": {"NodeID": "", "NodeAddr": "", "LocalNodeState": "inactive",
                  "ControlAvailable": False, "Error": "", "RemoteManagers": None},
        "LiveRestoreEnabled": config.live_restore, "Isolation": "", "InitBinary": "docker-init",
        "ContainerdCommit": {"ID": "", "Expected": ""},
        "RuncCommit": {"ID": "", "Expected": ""}, "InitCommit": {"ID": "", "Expected": ""},
        "SecurityOptions": ["name=seccomp,profile=default",
                            *(["name=rootless"] if config.rootless else [])],
        "Warnings": [] if cgroups else [hostinfo.no_cgroups_warning()],
    })


#: info's limit flags, by the cgroup v2 controller each needs
_LIMIT_CONTROLLERS = {"MemoryLimit": "memory", "SwapLimit": "memory", "CpuCfsPeriod": "cpu",
                      "CpuCfsQuota": "cpu", "CPUShares": "cpu", "CPUSet": "cpuset",
                      "PidsLimit": "pids", "OomKillDisable": "memory"}


def _limit_support(config: DaemonConfig, cgroups: bool) -> dict[str, bool]:
    """Which limits this daemon can set: all with cgroups, none without; a rootless
    daemon's delegated cgroup, those of the controllers it was given (dockerd reads
    its own cgroup's controllers the same way)."""
    if not config.delegated_cgroup:
        return dict.fromkeys(_LIMIT_CONTROLLERS, cgroups)
    return {key: c in config.delegated_controllers for key, c in _LIMIT_CONTROLLERS.items()}


def _time_arg(request: web.Request, name: str) -> float | None:
    value = request.query.get(name)
    if not value:
        return None
    try:
        return parse_timestamp(value)
    except ValueError as e:
        raise InvalidParameter(str(e)) from None


@routes.get("/events")
async def events(request: web.Request) -> web.StreamResponse:
    engine = params.engine(request)
    since, until = _time_arg(request, "since"), _time_arg(request, "until")
    if since is not None and until is not None and since > until:
        raise InvalidParameter("`since` time cannot be after `until` time")
    filters = flt.parse(request.query.get("filters"), EVENT_FILTERS)
    response = web.StreamResponse(headers={"Content-Type": "application/json"})
    await response.prepare(request)
    end_with_client(request)  # a dropped client unsubscribes now, not at the next event
    try:
        async with aclosing(engine.events.subscribe(since, until, filters)) as events:
            async for event in events:
                await response.write(json.dumps(event, separators=(",", ":")).encode() + b"\n")
    except ConnectionResetError:
        pass
    return response
