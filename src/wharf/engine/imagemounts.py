"""Image mount points: an image's tree, read-only, at a path of a container.

The CRI's image volumes (later Docker APIs' ``Type: image`` mounts). At
create the point's Source, an image reference, becomes the image's ID and its
Subpath is checked; at every start ``oci_mount`` makes the OCI mount: the
image's layer directories (or the Subpath in each of them) as a read-only
overlay without an upper layer. The runtime mounts it inside the container's
mount namespace, so nothing stays mounted on the host when the container ends.
"""

from __future__ import annotations

import asyncio
import os
import stat
from typing import Any, Callable

from wharf.engine.images import ImageService
from wharf.engine.mounts import Point
from wharf.errors import InvalidParameter, WharfError
from wharf.image.archive import is_opaque
from wharf.image.overlay import MOUNT_DATA_MAX
from wharf.image.store import ImageStore


async def resolve(points: list[Point], images: ImageService) -> None:
    """Each image point's Source as the image's ID (NotFound for an image not here);
    a Subpath that is no directory of the image is refused."""
    for p in points:
        if p["Type"] != "image":
            continue
        image = await images.get(p["Source"])
        dirs = await asyncio.to_thread(_source_dirs, images.store, image.id, p["Subpath"])
        if not dirs:
            raise InvalidParameter(f'invalid mount config for type "image": subpath '
                                   f'"{p["Subpath"]}" is not a directory of image {p["Source"]}')
        p["Source"] = image.id


def oci_mount(store: ImageStore) -> Callable[[Point], dict[str, Any]]:
    """``mounts.to_oci``'s maker of an image point's OCI mount: a read-only bind of the
    one directory there is, else an overlay of them (overlayfs wants two lowerdirs
    when it has no upperdir)."""
    def make(p: Point) -> dict[str, Any]:
        dirs = _source_dirs(store, p["Source"], p.get("Subpath") or "")
        if len(dirs) == 1:
            return {"destination": p["Destination"], "type": "bind", "source": dirs[0],
                    "options": ["rbind", "rprivate", "ro"]}
        data = "lowerdir=" + ":".join(dirs)
        if len(data) > MOUNT_DATA_MAX:
            raise WharfError(f"too many image layers to mount at {p['Destination']} ({len(dirs)})")
        return {"destination": p["Destination"], "type": "overlay", "source": "overlay",
                "options": ["ro", "nodev", "nosuid", data]}
    return make


def _source_dirs(store: ImageStore, image_id: str, subpath: str) -> list[str]:
    """The directories that make ``subpath`` of the image, top layer first: a layer adds
    its directory there; a whiteout, a file or an opaque directory on the way hides
    every layer below it."""
    parts = [part for part in subpath.split("/") if part not in ("", ".")]
    out = []
    layers = store.snapshots.image_dirs(store.record(image_id).chain_ids)  # vfs: one, the whole tree
    for layer in layers:
        path: str | None = layer
        hides = False
        for part in parts:
            assert path is not None
            path = os.path.join(path, part)
            try:
                st = os.lstat(path)
            except FileNotFoundError:
                path = None
                break
            if not stat.S_ISDIR(st.st_mode):
                path, hides = None, True
                break
            hides |= is_opaque(path)
        if path is not None:
            out.append(path)
        if hides:
            break
    return out
