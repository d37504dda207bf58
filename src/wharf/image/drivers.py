"""Which storage driver keeps a data root's layers: chosen once, when the data root
is new, and kept.

dockerd keeps each driver's files apart (``/var/lib/docker/overlay2``,
``.../vfs``) and, started with another driver, shows none of the first one's
images or containers. wharf keeps one store per data root, so the driver is
written in ``{data_root}/image/driver`` when the store is made, and a start
with another one is refused, saying which one the data root holds: the images
and containers stay where the user left them, reachable with that driver or
on another ``--data-root``.

With no ``--storage-driver``, a data root keeps the driver it has (dockerd's
"prior storage driver"); a new one gets overlay2 when overlayfs can mount on
its filesystem (tried once, in scratch), else vfs, with a warning, as dockerd
falls back. A data root made before the driver was written down is overlay2's
(it has layers and no driver file): that is written down the first time it is
inferred, so later starts read one line instead of listing every layer.
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile

from wharf.errors import WharfError
from wharf.fsutil import write_atomic
from wharf.image.overlay import OverlaySnapshotter, can_mount
from wharf.image.snapshot import Snapshotter
from wharf.image.vfs import VfsSnapshotter

#: name -> the driver, in dockerd's order of preference
DRIVERS: dict[str, type[Snapshotter]] = {d.name: d for d in (OverlaySnapshotter, VfsSnapshotter)}
DEFAULT = OverlaySnapshotter.name
FALLBACK = VfsSnapshotter.name
MARKER = "driver"
log = logging.getLogger("wharf.image")


class DriverError(WharfError):
    """The storage driver asked for cannot keep this data root's layers."""


def supported(name: str) -> str | None:
    """dockerd's refusal of a driver wharf does not have, or None."""
    if name and name not in DRIVERS:
        return f"error initializing graphdriver: driver not supported: {name}"
    return None


def choose(image_dir: str, requested: str) -> str:
    """The driver of the store at ``image_dir`` (made if missing), ``requested`` ("": any)."""
    if (problem := supported(requested)) is not None:
        raise DriverError(problem)
    os.makedirs(image_dir, 0o700, exist_ok=True)
    marker = os.path.join(image_dir, MARKER)
    prior = _prior(image_dir, marker)
    if prior and requested and requested != prior:
        raise DriverError(
            f"error initializing graphdriver: the data root {os.path.dirname(image_dir)} holds the "
            f"images and containers of the {prior} storage driver, not {requested}: start with "
            f"--storage-driver {prior}, or give {requested} a --data-root of its own")
    if prior:
        return prior
    chosen = requested or DEFAULT
    if chosen == DEFAULT:
        why = _overlay_problem(image_dir)
        if why is not None and requested:
            raise DriverError(f"error initializing graphdriver: driver not supported: {DEFAULT} "
                              f"(overlayfs cannot mount on {image_dir}: {why})")
        if why is not None:
            log.warning("overlayfs cannot mount on %s (%s): falling back to the %s storage "
                        "driver, which keeps every layer as a full copy", image_dir, why, FALLBACK)
            chosen = FALLBACK
    write_atomic(marker, (chosen + "\n").encode())
    return chosen


def _prior(image_dir: str, marker: str) -> str:
    """The driver the store was made with ("" for a new store)."""
    try:
        with open(marker) as f:
            return f.read().strip()
    except FileNotFoundError:
        pass
    if not _has_layers(os.path.join(image_dir, "layers")):
        return ""
    try:  # made before the driver was written down: overlay2's
        write_atomic(marker, (DEFAULT + "\n").encode())
    except OSError as e:  # a full or read-only disk: the next start infers it again
        log.warning("recording the storage driver %s in %s: %s", DEFAULT, marker, e)
    return DEFAULT


def _has_layers(layers: str) -> bool:
    """Whether a layer (a directory named by its 64-hex chain ID) is there; stops at the first."""
    try:
        with os.scandir(layers) as entries:
            return any(len(entry.name) == 64 for entry in entries)
    except FileNotFoundError:
        return False


def _overlay_problem(image_dir: str) -> str | None:
    scratch = tempfile.mkdtemp(dir=image_dir, prefix=".overlay-probe-")
    try:
        return can_mount(scratch)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
