"""Copy an image directory into a new, empty volume, as Docker does on first mount.

Owners, modes, times, symlinks, device nodes and fifos are kept exactly, so a
volume mounted over ``/var/lib/app`` starts with what the image had there and
the image's service user can still write to it.
"""

from __future__ import annotations

import os
import shutil
import stat


def is_empty(path: str) -> bool:
    try:
        with os.scandir(path) as it:
            return next(it, None) is None
    except FileNotFoundError:
        return True


def _copy_meta(src: str, dst: str, st: os.stat_result) -> None:
    os.lchown(dst, st.st_uid, st.st_gid)
    if not stat.S_ISLNK(st.st_mode):
        os.chmod(dst, stat.S_IMODE(st.st_mode))
    os.utime(dst, ns=(st.st_atime_ns, st.st_mtime_ns), follow_symlinks=False)


def _copy_entry(src: str, dst: str, st: os.stat_result) -> None:
    mode = st.st_mode
    if stat.S_ISDIR(mode):
        os.makedirs(dst, exist_ok=True)
        with os.scandir(src) as it:
            for entry in it:
                child = os.path.join(dst, entry.name)
                _copy_entry(entry.path, child, entry.stat(follow_symlinks=False))
    elif stat.S_ISLNK(mode):
        os.symlink(os.readlink(src), dst)
    elif stat.S_ISREG(mode):
        with open(src, "rb") as fin, open(dst, "wb") as fout:
            shutil.copyfileobj(fin, fout, 1 << 20)
    elif stat.S_ISCHR(mode) or stat.S_ISBLK(mode) or stat.S_ISFIFO(mode):
        os.mknod(dst, mode, st.st_rdev)
    else:  # sockets mean nothing in a copy
        return
    _copy_meta(src, dst, st)


def copy_up(src: str, dst: str) -> bool:
    """Fill the empty directory ``dst`` with the tree at ``src``; False when nothing to copy.

    The root's own owner and mode are taken too: a volume over a directory
    owned by ``www-data`` belongs to ``www-data``.
    """
    try:
        st = os.stat(src, follow_symlinks=False)
    except FileNotFoundError:
        return False
    if not stat.S_ISDIR(st.st_mode) or not is_empty(dst):
        return False
    _copy_entry(src, dst, st)
    return True


def disk_usage(path: str) -> int:
    """Bytes in the files under ``path`` (``system df``'s volume size, as Docker counts it)."""
    total = 0
    for root, _dirs, files in os.walk(path):
        for name in files:
            try:
                total += os.lstat(os.path.join(root, name)).st_size
            except OSError:
                pass
    return total
