"""The overlay2 driver: a container's writable layer over its image's layers.

Layout (besides ``snapshot``'s)::

    rw/<cid>/upper/   the container's changes
    rw/<cid>/work/    overlayfs scratch
    rw/<cid>/meta.json's "lower"   "l/A:l/B:...": the image's layers, top first
                                   (a ``lower`` file beside it in layers made
                                   before wharf kept it there, still read)

A layer is kept as unpacked: its own files, whiteouts as overlayfs has them.

The lowerdirs are the layer store's short links. When even those, as
absolute paths, pass the one-page limit of mount data, they are given
relative to the layer directory, and the mount is done by ``mount(8)``
started there (a chdir inside the multi-threaded daemon would move every
thread).
"""

from __future__ import annotations

import os
import subprocess
from typing import Any

from wharf.errors import NotFound, WharfError
from wharf.image import layerdiff
from wharf.image.archive import OVERLAY_MOUNT_OPTIONS
from wharf.image.snapshot import Snapshotter
from wharf.linux import syscalls

MOUNT_DATA_MAX = os.sysconf("SC_PAGE_SIZE") - 1


class OverlaySnapshotter(Snapshotter):
    name = "overlay2"

    def _fill(self, scratch: str, chain: str) -> dict[str, str]:
        os.mkdir(os.path.join(scratch, "upper"), 0o755)
        os.mkdir(os.path.join(scratch, "work"), 0o700)
        return {"lower": ":".join(self.layers.lower_links(chain))}

    def upper_dir(self, cid: str) -> str:
        return os.path.join(self._dir(cid), "upper")

    def lowers(self, cid: str) -> list[str]:
        """The image's layer links (``l/<LINK>``), top first."""
        lower = self.meta(cid).get("lower")
        if lower is None:  # a layer made by an older wharf: its own file
            try:
                with open(os.path.join(self._dir(cid), "lower")) as f:
                    lower = f.read()
            except FileNotFoundError:
                raise NotFound(f"no rw layer for container {cid}") from None
        return lower.split(":")

    def merged_dirs(self, cid: str) -> list[str]:
        return [self.upper_dir(cid)] + [os.path.join(self.layers.root, link) for link in self.lowers(cid)]

    def diff(self, cid: str) -> layerdiff.UpperDiff:
        return layerdiff.UpperDiff(self.upper_dir(cid))

    def changes(self, cid: str) -> list[tuple[str, int]]:
        upper, *lowers = self.merged_dirs(cid)
        return layerdiff.changes(upper, lowers)

    def mount(self, cid: str, target: str) -> None:
        """mount(2) with absolute lowerdirs when they fit in a page (no fork, the
        common case); else relative short links, by mount(8) started in the layer dir."""
        rw = self._dir(cid)
        lowers = self.lowers(cid)
        rest = f"upperdir={rw}/upper,workdir={rw}/work{OVERLAY_MOUNT_OPTIONS}"
        absolute = ":".join(os.path.join(self.layers.root, link) for link in lowers)
        os.makedirs(target, exist_ok=True)
        if len(data := f"lowerdir={absolute},{rest}") <= MOUNT_DATA_MAX:
            syscalls.mount("overlay", target, "overlay", 0, data)
            return
        data = f"lowerdir={':'.join(lowers)},{rest}"
        if len(data) > MOUNT_DATA_MAX:
            raise WharfError(f"too many image layers to mount ({len(lowers)})")
        proc = subprocess.run(["mount", "-t", "overlay", "overlay", "-o", data, target],
                              cwd=self.layers.root, capture_output=True, text=True)
        if proc.returncode != 0:
            raise WharfError(f"mount overlay on {target}: {proc.stderr.strip()}")

    def unmount(self, target: str) -> None:
        if os.path.ismount(target):  # an overlay mount has a device of its own
            syscalls.umount2(target)

    def size(self, cid: str) -> int:
        """Bytes of regular files in the upper dir, inodes counted once."""
        return layerdiff.regular_bytes(st for _, _, st in layerdiff.walk(self.upper_dir(cid)))

    def image_dirs(self, chains: list[str]) -> list[str]:
        return [self.layers.diff_dir(c) for c in reversed(chains)]

    def graph_driver(self, chains: list[str]) -> dict[str, Any]:
        dirs = self.image_dirs(chains)
        data = {"UpperDir": dirs[0]} if dirs else {}
        if len(dirs) > 1:
            data["LowerDir"] = ":".join(dirs[1:])
        return {"Name": self.name, "Data": data}


def can_mount(scratch: str) -> str | None:
    """Why overlayfs cannot mount in ``scratch`` (a directory on the data root's
    filesystem), or None when it can: a mount of one empty layer, with the options
    the layers' mounts get (``userxattr`` in a rootless daemon), undone at once."""
    dirs = [os.path.join(scratch, n) for n in ("lower", "upper", "work", "merged")]
    for d in dirs:
        os.mkdir(d, 0o700)
    lower, upper, work, merged = dirs
    try:
        syscalls.mount("overlay", merged, "overlay", 0,
                       f"lowerdir={lower},upperdir={upper},workdir={work}{OVERLAY_MOUNT_OPTIONS}")
    except OSError as e:
        return e.strerror or str(e)
    syscalls.umount2(merged)
    return None
