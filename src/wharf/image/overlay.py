"""The overlay snapshotter: a container's writable layer over its image's layers.

Layout::

    rw/<cid>/upper/   the container's changes
    rw/<cid>/work/    overlayfs scratch
    rw/<cid>/lower    "l/A:l/B:...": the image's layers, top first
    rw/<cid>/meta.json {"image_id", "chain_id"}

Scratch lives in ``rw/.tmp``, emptied (never re-made) at every start: a layer
being made is assembled there, and a removed one is renamed there before it is
deleted, so a removal needs no free space and a crash mid-way is finished by
the next start. A layer directory without ``meta.json`` is one an in-place
delete left half done; the start removes it too.

The lowerdirs are the layer store's short links. When even those, as
absolute paths, pass the one-page limit of mount data, they are given
relative to the layer directory, and the mount is done by ``mount(8)``
started there (a chdir inside the multi-threaded daemon would move every
thread).
"""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import tempfile

from wharf.errors import NotFound, WharfError
from wharf.fsutil import empty_dir, remove_tree
from wharf.linux import syscalls

MOUNT_DATA_MAX = os.sysconf("SC_PAGE_SIZE") - 1


class OverlaySnapshotter:
    def __init__(self, root: str, layers_dir: str) -> None:
        self.root = root
        self.layers_dir = layers_dir
        self.tmp_dir = os.path.join(root, ".tmp")
        os.makedirs(root, exist_ok=True)
        empty_dir(self.tmp_dir)
        for cid in self.ids():
            if not os.path.exists(os.path.join(root, cid, "meta.json")):
                shutil.rmtree(os.path.join(root, cid), ignore_errors=True)

    def _dir(self, cid: str) -> str:
        if not cid or "/" in cid or cid.startswith("."):
            raise WharfError(f"invalid container id {cid!r}")
        return os.path.join(self.root, cid)

    def create(self, cid: str, lowers: list[str], meta: dict[str, str]) -> None:
        """Make the (unmounted) rw layer; ``lowers`` are layer links, top first."""
        scratch = tempfile.mkdtemp(dir=self.tmp_dir)
        try:
            os.mkdir(os.path.join(scratch, "upper"), 0o755)
            os.mkdir(os.path.join(scratch, "work"), 0o700)
            with open(os.path.join(scratch, "lower"), "w") as f:
                f.write(":".join(lowers))
            with open(os.path.join(scratch, "meta.json"), "w") as f:
                json.dump(meta, f)
            os.rename(scratch, self._dir(cid))
        except BaseException:
            shutil.rmtree(scratch, ignore_errors=True)
            raise

    def meta(self, cid: str) -> dict[str, str]:
        try:
            with open(os.path.join(self._dir(cid), "meta.json")) as f:
                return json.load(f)
        except FileNotFoundError:
            raise NotFound(f"no rw layer for container {cid}") from None

    def ids(self) -> list[str]:
        return [name for name in os.listdir(self.root) if not name.startswith(".")]

    def upper_dir(self, cid: str) -> str:
        return os.path.join(self._dir(cid), "upper")

    def lowers(self, cid: str) -> list[str]:
        """The image's layer links (``l/<LINK>``), top first."""
        try:
            with open(os.path.join(self._dir(cid), "lower")) as f:
                return f.read().split(":")
        except FileNotFoundError:
            raise NotFound(f"no rw layer for container {cid}") from None

    def mount(self, cid: str, target: str) -> None:
        """mount(2) with absolute lowerdirs when they fit in a page (no fork, the
        common case); else relative short links, by mount(8) started in the layer dir."""
        rw = self._dir(cid)
        lowers = self.lowers(cid)
        rest = f"upperdir={rw}/upper,workdir={rw}/work"
        absolute = ":".join(os.path.join(self.layers_dir, link) for link in lowers)
        os.makedirs(target, exist_ok=True)
        if len(data := f"lowerdir={absolute},{rest}") <= MOUNT_DATA_MAX:
            syscalls.mount("overlay", target, "overlay", 0, data)
            return
        data = f"lowerdir={':'.join(lowers)},{rest}"
        if len(data) > MOUNT_DATA_MAX:
            raise WharfError(f"too many image layers to mount ({len(lowers)})")
        proc = subprocess.run(["mount", "-t", "overlay", "overlay", "-o", data, target],
                              cwd=self.layers_dir, capture_output=True, text=True)
        if proc.returncode != 0:
            raise WharfError(f"mount overlay on {target}: {proc.stderr.strip()}")

    @staticmethod
    def unmount(target: str) -> None:
        """Unmount; a target that is not mounted (or gone) is already done."""
        if os.path.ismount(target):
            syscalls.umount2(target)

    def remove(self, cid: str) -> None:
        """Delete the layer (unmounted); needs no free space (``fsutil.remove_tree``)."""
        remove_tree(self._dir(cid), self.tmp_dir)

    def size(self, cid: str) -> int:
        """Bytes of regular files in the upper dir (Docker's SizeRw), inodes counted once."""
        seen: set[int] = set()
        total = 0
        for dirpath, dirnames, filenames in os.walk(os.path.join(self._dir(cid), "upper")):
            for name in filenames + dirnames:
                st = os.lstat(os.path.join(dirpath, name))
                if stat.S_ISREG(st.st_mode) and st.st_ino not in seen:
                    seen.add(st.st_ino)
                    total += st.st_size
        return total

