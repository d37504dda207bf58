"""The ``local`` volume driver: a directory per volume, or a mount its options describe.

``{root}/<name>/_data`` holds the data; ``{root}/<name>/volume.json`` the
metadata (created time, labels, driver options), written atomically. With ``type``/``device``/``o`` options
(``-o type=tmpfs -o device=tmpfs -o o=size=10m``, or ``-o o=bind -o
device=/srv``) ``_data`` is a mount point: mounted when a container first
needs it and unmounted when the last one using it stops.
"""

from __future__ import annotations

import os
import re
import shutil
import time
from dataclasses import dataclass, field
from typing import Any

from wharf.errors import InvalidParameter
from wharf.fsutil import read_json, write_json_atomic
from wharf.linux import mountinfo
from wharf.linux import syscalls as sc
from wharf.runtime.rootfs import parse_options

DRIVER = "local"
NAME_PATTERN = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9_.-]+$")
_OPTION_KEYS = ("type", "device", "o", "size")
_META = "volume.json"


@dataclass
class Volume:
    name: str
    root: str
    created_at: str
    labels: dict[str, str] = field(default_factory=dict)
    options: dict[str, str] = field(default_factory=dict)

    @property
    def data(self) -> str:
        return os.path.join(self.root, "_data")

    @property
    def needs_mount(self) -> bool:
        return bool(self.options.get("type") or self.options.get("device"))

    def to_json(self) -> dict[str, Any]:
        """Docker's ``Volume`` object."""
        return {"CreatedAt": self.created_at, "Driver": DRIVER, "Labels": self.labels or None,
                "Mountpoint": self.data, "Name": self.name, "Options": self.options or None,
                "Scope": "local"}


def validate_name(name: str) -> None:
    if not NAME_PATTERN.match(name):
        raise InvalidParameter(
            f'create {name}: "{name}" includes invalid characters for a local volume name, '
            'only "[a-zA-Z0-9][a-zA-Z0-9_.-]" are allowed. If you intended to pass a host '
            "directory, use absolute path")


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


class LocalDriver:
    """Volumes under ``root``; every method blocks (call it from a thread)."""

    def __init__(self, root: str) -> None:
        self.root = root
        os.makedirs(root, 0o701, exist_ok=True)

    def load(self) -> list[Volume]:
        """Every volume on disk; half-made ones (no metadata) are finished as plain volumes."""
        out = []
        for name in sorted(os.listdir(self.root)):
            directory = os.path.join(self.root, name)
            if not NAME_PATTERN.match(name) or not os.path.isdir(directory):
                continue
            try:
                meta = read_json(os.path.join(directory, _META)) or {}
            except ValueError:
                meta = {}
            out.append(Volume(name, directory, meta.get("CreatedAt") or _now(),
                              meta.get("Labels") or {}, meta.get("Options") or {}))
        return out

    def create(self, name: str, labels: dict[str, str], options: dict[str, str]) -> Volume:
        validate_name(name)
        for key in options:
            if key not in _OPTION_KEYS:
                raise InvalidParameter(f'invalid option: "{key}"')
        if options.get("type") == "bind" or "bind" in options.get("o", "").split(","):
            device = options.get("device", "")
            if not os.path.isdir(device):
                raise InvalidParameter(f"failed to mount local volume: mount {device}:"
                                       f"{os.path.join(self.root, name, '_data')}, flags: 0x1000: "
                                       "no such file or directory")
        vol = Volume(name, os.path.join(self.root, name), _now(), dict(labels), dict(options))
        existed = os.path.exists(vol.root)
        try:
            os.makedirs(vol.data, 0o755, exist_ok=True)
            os.chmod(vol.root, 0o701)
            write_json_atomic(os.path.join(vol.root, _META), {
                "CreatedAt": vol.created_at, "Labels": vol.labels, "Options": vol.options})
        except BaseException:  # a full disk: no half-made volume for the next start to find
            if not existed:
                shutil.rmtree(vol.root, ignore_errors=True)
            raise
        return vol

    def mount(self, vol: Volume) -> None:
        """Mount an option-described volume on its ``_data`` (once; later calls do nothing)."""
        if not vol.needs_mount or mountinfo.is_mount_point(vol.data):
            return
        flags, _, data = parse_options(vol.options.get("o", "").split(","))
        kind = vol.options.get("type") or None
        if flags & sc.MS_BIND:
            kind = None
        sc.mount(vol.options.get("device") or kind or "none", vol.data, kind, flags, data or None)

    def unmount(self, vol: Volume) -> None:
        if vol.needs_mount and mountinfo.is_mount_point(vol.data):
            sc.umount2(vol.data, sc.MNT_DETACH)

    def remove(self, vol: Volume) -> None:
        """Delete the volume; a mounted ``_data`` is unmounted first, never deleted through."""
        self.unmount(vol)
        if mountinfo.is_mount_point(vol.data):
            raise OSError(f"{vol.data} is still mounted")
        shutil.rmtree(vol.root)
