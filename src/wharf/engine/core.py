"""The Engine: the one object the API layer talks to."""

from __future__ import annotations

import asyncio
import os
import secrets
import shutil

from wharf.config import DaemonConfig
from wharf.engine.containers import ContainerService
from wharf.engine.builder import Builder
from wharf.engine.events import EventBus
from wharf.engine.health import HealthMonitor
from wharf.engine.execs import ExecService
from wharf.engine.images import ImageService
from wharf.engine.networks import NetworkService
from wharf.engine.volumes import VolumeService
from wharf.linux.syscalls import spread_subdirs
from wharf.runtime import cgroups


class Engine:
    def __init__(self, config: DaemonConfig) -> None:
        self.config = config
        for path in (config.data_root, config.containers_dir, config.image_dir,
                     config.exec_root, config.bundles_dir):
            os.makedirs(path, 0o711, exist_ok=True)
        for path in (config.containers_dir, config.bundles_dir):  # a tree per container
            spread_subdirs(path)
        # Earlier versions kept partial layer downloads here; pulls now stream in memory.
        shutil.rmtree(os.path.join(config.data_root, "distribution", "downloads"), ignore_errors=True)
        self.id = _engine_id(config.data_root)
        self.events = EventBus()
        self.images = ImageService(config, self.events)
        self.containers = ContainerService(config, self.events, self.images)
        self.networks = NetworkService(config, self.events)
        self.containers.networks = self.networks
        self.volumes = VolumeService(config, self.events, self.containers.all)
        self.containers.volumes = self.volumes
        self.execs = ExecService(self.containers, self.events)
        self.builder = Builder(config, self.images, self.containers)
        self.containers.health = HealthMonitor(self.execs, self.events)

    async def start(self) -> None:
        """Start the shim launcher and find the containers again (live restore)."""
        await self.networks.start()
        await self.containers.restore()
        await self.networks.reconcile({c.id for c in self.containers.all() if c.running})

    async def close(self) -> None:
        await self.containers.close()
        await self.networks.close()
        # Like the bridge and the firewall table: gone with the last container.
        await asyncio.to_thread(cgroups.remove_if_empty, "/" + self.config.cgroup_parent)


def _engine_id(data_root: str) -> str:
    """A stable daemon ID (``docker info``'s ID), made once per data root."""
    path = os.path.join(data_root, "engine-id")
    try:
        with open(path) as f:
            return f.read().strip()
    except FileNotFoundError:
        value = secrets.token_hex(16)
        with open(path, "w") as f:
            f.write(value)
        return value
