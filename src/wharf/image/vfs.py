"""The vfs driver, for data roots where overlayfs cannot mount: every layer and
every container is a full copy (moby's ``daemon/graphdriver/vfs``).

A layer's ``diff/`` is its parent's tree copied, with the layer's tar applied
on top (``stack_layer``: the unpacked entries moved in, the tar's ``.wh.``
files, unpacked as they are named, deleting what they name, an opaque
directory emptied first; no overlayfs marks, which a data root on overlayfs
could not hold). A container's layer is::

    rw/<cid>/fs/      a copy of its image's top layer, bind-mounted as its rootfs

and its changes are found by comparing ``fs`` with that layer (``naivediff``).
Copies are made by ``cp -a`` (hard links, owners, xattrs and times kept; a
reflink where the filesystem has them), so disk use and the time of a create,
a pull or a build step grow with the image's size: the price of needing no
overlayfs.
"""

from __future__ import annotations

import errno
import os
import shutil
import stat
import subprocess
from typing import Any

from wharf.errors import WharfError
from wharf.image.archive import WHITEOUT_META_PREFIX, WHITEOUT_OPAQUE, WHITEOUT_PREFIX
from wharf.image.naivediff import NaiveDiff, changes
from wharf.image.snapshot import Snapshotter
from wharf.linux import syscalls


def copy_tree(src: str, dst: str) -> None:
    """``dst`` (not existing yet) made a copy of ``src``, everything kept."""
    proc = subprocess.run(["cp", "-a", "--reflink=auto", "--", src, dst], capture_output=True, text=True)
    if proc.returncode != 0:
        if "No space left on device" in proc.stderr:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), dst)
        raise WharfError(f"copying {src}: {proc.stderr.strip()}")


def stack_layer(diff: str, parent: str | None) -> None:
    """Make the unpacked layer at ``diff`` the whole tree: ``parent``'s tree (none:
    an empty one) with the layer applied."""
    full = diff + ".full"
    if parent is None:
        os.mkdir(full)
        _copy_metadata(diff, os.lstat(diff), full)
    else:
        copy_tree(parent, full)
    _apply(diff, full)
    shutil.rmtree(diff)
    os.rename(full, diff)


def _apply(src: str, dst: str) -> None:
    """Move the entries of the unpacked directory ``src`` into the tree ``dst``; its
    ``.wh.`` files (kept as the tar named them) delete what they name there."""
    names = os.listdir(src)
    if WHITEOUT_OPAQUE in names:  # the layer's directory hides everything below it
        for child in os.listdir(dst):
            _remove(os.path.join(dst, child))
    for name in names:  # deletions first: a layer may delete a name and make it anew
        if name.startswith(WHITEOUT_PREFIX) and not name.startswith(WHITEOUT_META_PREFIX):
            _remove(os.path.join(dst, name[len(WHITEOUT_PREFIX):]))
    for name in names:
        if name.startswith(WHITEOUT_PREFIX):
            continue
        s, d = os.path.join(src, name), os.path.join(dst, name)
        st = os.lstat(s)
        try:
            dst_st: os.stat_result | None = os.lstat(d)
        except FileNotFoundError:
            dst_st = None
        if stat.S_ISDIR(st.st_mode):
            if dst_st is not None and not stat.S_ISDIR(dst_st.st_mode):
                _remove(d)
                dst_st = None
            if dst_st is None:
                os.mkdir(d, 0o700)
            _apply(s, d)
            _copy_metadata(s, st, d)
            continue
        if dst_st is not None:
            _remove(d)
        os.rename(s, d)


def _remove(path: str) -> None:
    """Delete what is at ``path``, if anything."""
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return
    if stat.S_ISDIR(st.st_mode):
        shutil.rmtree(path)
    else:
        os.unlink(path)


def _copy_metadata(src: str, st: os.stat_result, dst: str) -> None:
    """A directory's owner, mode, xattrs and times."""
    os.lchown(dst, st.st_uid, st.st_gid)  # before chmod: chown clears setuid bits
    os.chmod(dst, stat.S_IMODE(st.st_mode))
    for name in os.listxattr(src, follow_symlinks=False):
        os.setxattr(dst, name, os.getxattr(src, name, follow_symlinks=False), follow_symlinks=False)
    os.utime(dst, ns=(st.st_atime_ns, st.st_mtime_ns), follow_symlinks=False)


class VfsSnapshotter(Snapshotter):
    name = "vfs"
    stack_layer = staticmethod(stack_layer)

    def _fill(self, scratch: str, chain: str) -> dict[str, str]:
        copy_tree(self.layers.diff_dir(chain), os.path.join(scratch, "fs"))
        return {}

    def _fs(self, cid: str) -> str:
        return os.path.join(self._dir(cid), "fs")

    def _below(self, cid: str) -> str:
        return self.layers.diff_dir(self.meta(cid)["chain_id"])

    def mount(self, cid: str, target: str) -> None:
        os.makedirs(target, exist_ok=True)
        syscalls.mount(self._fs(cid), target, None, syscalls.MS_BIND)

    def unmount(self, target: str) -> None:
        """A bind mount shares its filesystem's device: ``ismount`` cannot tell, umount2 can."""
        try:
            syscalls.umount2(target)
        except OSError as e:
            if e.errno not in (errno.EINVAL, errno.ENOENT):
                raise

    def diff(self, cid: str) -> NaiveDiff:
        return NaiveDiff(self._fs(cid), self._below(cid))

    def changes(self, cid: str) -> list[tuple[str, int]]:
        return changes(self._fs(cid), self._below(cid))

    def merged_dirs(self, cid: str) -> list[str]:
        return [self._fs(cid)]

    def size(self, cid: str) -> int:
        return self.diff(cid).size()

    def image_dirs(self, chains: list[str]) -> list[str]:
        """The top layer alone: it is the whole tree."""
        return [self.layers.diff_dir(chains[-1])] if chains else []

    def graph_driver(self, chains: list[str]) -> dict[str, Any]:
        return {"Name": self.name, "Data": None}
