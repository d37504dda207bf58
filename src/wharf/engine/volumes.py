"""VolumeService: named and anonymous volumes, and their use by containers.

A volume is in use while any container (running or not) has it among its
mount points, as in Docker; that is derived from the container records, so
it survives daemon restarts without a counter to keep right. A volume whose
local-driver options describe a mount is mounted at a container's start and
unmounted when no running container uses it any more.
"""

from __future__ import annotations

import asyncio
import os
import secrets
from typing import Any, Callable

from wharf.config import DaemonConfig
from wharf.engine import filters as flt
from wharf.engine import mounts
from wharf.engine.container import Container
from wharf.engine.events import EventBus
from wharf.errors import Conflict, InvalidParameter, NotFound
from wharf.linux.paths import secure_join
from wharf.volume import copyup
from wharf.volume.local import DRIVER, LocalDriver, Volume

LIST_FILTERS = ("dangling", "name", "label", "driver")
PRUNE_FILTERS = ("label", "label!", "all")
#: Docker's label on anonymous volumes (what ``volume prune`` without ``-a`` removes).
ANONYMOUS_LABEL = "com.docker.volume.anonymous"


def mount_points(c: Container) -> list[mounts.Point]:
    return c.private.get("MountPoints") or []


def _truth(values: list[str], key: str) -> bool:
    value = values[-1].lower()
    if value not in ("true", "false", "1", "0"):
        raise InvalidParameter(f"invalid filter '{key}={values[-1]}'")
    return value in ("true", "1")


class VolumeService:
    def __init__(self, config: DaemonConfig, events: EventBus,
                 containers: Callable[[], list[Container]]) -> None:
        self.events = events
        self._containers = containers
        self.driver = LocalDriver(os.path.join(config.data_root, "volumes"))
        self._volumes = {v.name: v for v in self.driver.load()}
        self._lock = asyncio.Lock()

    # -- lookups -----------------------------------------------------------
    def _get(self, name: str) -> Volume:
        try:
            return self._volumes[name]
        except KeyError:
            raise NotFound(f"get {name}: no such volume") from None

    def users(self, name: str) -> list[Container]:
        """Containers with ``name`` among their mount points, in use or not."""
        return [c for c in self._containers()
                if any(p.get("Name") == name for p in mount_points(c))]

    async def inspect(self, name: str) -> dict[str, Any]:
        return self._get(name).to_json()

    async def list(self, filters: flt.Filters | None = None) -> dict[str, Any]:
        f = filters or {}
        out = []
        for vol in sorted(self._volumes.values(), key=lambda v: v.name):
            if "dangling" in f and _truth(f["dangling"], "dangling") == bool(self.users(vol.name)):
                continue
            if f.get("name") and not any(n in vol.name for n in f["name"]):
                continue
            if f.get("driver") and DRIVER not in f["driver"]:
                continue
            if "label" in f and not flt.match_labels(vol.labels, f["label"]):
                continue
            out.append(vol.to_json())
        return {"Volumes": out, "Warnings": None}

    # -- create / remove -----------------------------------------------------
    async def create(self, name: str = "", driver: str = "", options: dict[str, str] | None = None,
                     labels: dict[str, str] | None = None) -> dict[str, Any]:
        """``POST /volumes/create``; an existing volume of that name is returned as it is.
        One made without a name is anonymous (dockerd 23+), so prune takes it from API 1.42."""
        if driver not in ("", DRIVER):
            raise NotFound(f'create {name}: error looking up volume plugin {driver}: plugin '
                           f'"{driver}" not found')
        labels = {**(labels or {}), **({} if name else {ANONYMOUS_LABEL: ""})}
        return (await self._ensure(name, labels, options or {})).to_json()

    async def _ensure(self, name: str, labels: dict[str, str],
                      options: dict[str, str]) -> Volume:
        name = name or secrets.token_hex(32)
        async with self._lock:
            if name in self._volumes:
                return self._volumes[name]
            vol = await asyncio.to_thread(self.driver.create, name, labels, options)
            self._volumes[name] = vol
        self.events.publish("volume", "create", name, {"driver": DRIVER})
        return vol

    async def remove(self, name: str, force: bool = False) -> None:
        """``DELETE /volumes/{name}``; ``force`` only forgives a missing volume, as in Docker."""
        if name not in self._volumes and force:
            return
        vol = self._get(name)
        users = self.users(name)
        if users:
            raise Conflict(f"remove {name}: volume is in use - "
                           f"[{', '.join(c.id for c in users)}]")
        async with self._lock:
            await asyncio.to_thread(self.driver.remove, vol)
            self._volumes.pop(name, None)
        self.events.publish("volume", "destroy", name, {"driver": DRIVER})

    async def prune(self, filters: flt.Filters | None = None) -> dict[str, Any]:
        """Every unused volume (API 1.41's rule); ``all=false`` keeps named ones."""
        f = filters or {}
        only_anonymous = "all" in f and not _truth(f["all"], "all")
        deleted, reclaimed = [], 0
        for vol in list(self._volumes.values()):
            if only_anonymous and ANONYMOUS_LABEL not in vol.labels:
                continue
            if "label" in f and not flt.match_labels(vol.labels, f["label"]):
                continue
            if "label!" in f and any(flt.match_labels(vol.labels, [v]) for v in f["label!"]):
                continue
            if self.users(vol.name):
                continue
            size = await asyncio.to_thread(copyup.disk_usage, vol.data)
            try:
                await self.remove(vol.name)
            except (Conflict, NotFound):
                continue
            deleted.append(vol.name)
            reclaimed += size
        self.events.publish("volume", "prune", "", {"reclaimed": str(reclaimed)})
        return {"VolumesDeleted": deleted or None, "SpaceReclaimed": reclaimed}

    async def disk_usage(self) -> list[dict[str, Any]]:
        """``system df``'s Volumes: each with ``UsageData`` (size, containers using it)."""
        out = []
        for vol in sorted(self._volumes.values(), key=lambda v: v.name):
            size = await asyncio.to_thread(copyup.disk_usage, vol.data)
            out.append({**vol.to_json(), "UsageData": {"Size": size,
                                                       "RefCount": len(self.users(vol.name))}})
        return out

    # -- containers ----------------------------------------------------------
    async def resolve(self, host_config: dict[str, Any], volumes: list[str],
                      volumes_from: list[tuple[list[mounts.Point], str]]) -> list[mounts.Point]:
        """A new container's mount points, with every volume it names made (empty) now."""
        points = mounts.parse(host_config, volumes)
        for other, mode in volumes_from:
            points = mounts.merge_from(points, other, mode)
        for p in points:
            if p["Type"] != "volume":
                continue
            options = p.get("VolumeOptions") or {}
            labels = dict(options.get("Labels") or {})
            if not p["Name"]:
                labels[ANONYMOUS_LABEL] = ""
                p["Anonymous"] = True
            driver_opts = (options.get("DriverConfig") or {}).get("Options") or {}
            vol = await self._ensure(p["Name"], labels, driver_opts)
            p.update(Name=vol.name, Source=vol.data)
        return points

    async def attach(self, c: Container, rootfs: str) -> None:
        """At start, with the rootfs mounted: mount option volumes, copy image content up."""
        for p in mount_points(c):
            vol = self._volumes.get(p["Name"]) if p["Type"] == "volume" else None
            if vol is None:
                continue
            await asyncio.to_thread(self.driver.mount, vol)
            if p.get("CopyData"):
                await asyncio.to_thread(copyup.copy_up, secure_join(rootfs, p["Destination"]),
                                        vol.data)
            self.events.publish("volume", "mount", vol.name, {
                "container": c.id, "destination": p["Destination"], "driver": DRIVER,
                "propagation": p["Propagation"], "read/write": str(p["RW"]).lower()})

    async def detach(self, c: Container) -> None:
        """After an exit: ``unmount`` events; option volumes no running container uses
        any more are unmounted."""
        for p in mount_points(c):
            vol = self._volumes.get(p["Name"]) if p["Type"] == "volume" else None
            if vol is None:
                continue
            self.events.publish("volume", "unmount", vol.name,
                                {"container": c.id, "driver": DRIVER})
            if vol.needs_mount and not any(u.running for u in self.users(vol.name)):
                await asyncio.to_thread(self.driver.unmount, vol)

    async def remove_anonymous(self, points: list[mounts.Point]) -> None:
        """``rm -v`` / ``--rm``: the container's anonymous volumes nobody else uses."""
        for p in points:
            vol = self._volumes.get(p["Name"]) if p["Type"] == "volume" else None
            if vol is not None and p.get("Anonymous"):
                try:
                    await self.remove(vol.name)
                except Conflict:
                    pass
