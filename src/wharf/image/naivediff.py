"""Changes of a full copy against the tree it was copied from, as moby's naive diff
finds them (``pkg/archive`` ChangesDirs) for drivers that keep no upper dir (vfs).

An entry is added when the original lacks it, deleted when the copy lacks it,
modified when its mode, owner, device or file capability differ or, for
anything but a directory, its size or mtime (a copy keeps mtimes to the
nanosecond, so an unchanged file compares equal). A directory with changes
inside it is reported modified itself, as Docker does. The runtime's mount
points that Docker keeps in an init layer are not the container's changes
(``layerdiff.INIT_LAYER``).
"""

from __future__ import annotations

import os
import stat
from typing import BinaryIO

from wharf.image.archive import WHITEOUT_PREFIX
from wharf.image.layerdiff import ADDED, DELETED, MODIFIED, LayerTarWriter, is_init_stub

_CAPABILITY = "security.capability"


def changes(top: str, below: str) -> list[tuple[str, int]]:
    """("/path", kind) of ``top`` against ``below``, sorted by path."""
    out: list[tuple[str, int]] = []
    _compare("", top, below, out)
    return sorted(out)


def _compare(rel: str, new: str, old: str | None, out: list[tuple[str, int]]) -> None:
    new_names = os.listdir(new)
    old_names = set(os.listdir(old)) if old is not None else set()
    for name in new_names:
        child = f"{rel}/{name}" if rel else name
        path = os.path.join(new, name)
        st = os.lstat(path)
        old_path = os.path.join(old, name) if name in old_names else None
        old_st = os.lstat(old_path) if old_path is not None else None
        reported = True
        if old_st is None:
            reported = not is_init_stub(child, st)
            if reported:
                out.append(("/" + child, ADDED))
        elif _different(old_st, st) or _capability(old_path) != _capability(path):
            out.append(("/" + child, MODIFIED))
        else:
            reported = False
        if stat.S_ISDIR(st.st_mode):
            below = old_path if old_st is not None and stat.S_ISDIR(old_st.st_mode) else None
            start = len(out)
            _compare(child, path, below, out)
            if len(out) > start and not reported:
                out.append(("/" + child, MODIFIED))
    out.extend(("/" + (f"{rel}/{name}" if rel else name), DELETED) for name in old_names - set(new_names))


def _different(old: os.stat_result, new: os.stat_result) -> bool:
    """moby's statDifferent: a directory's size and mtime say nothing."""
    if (old.st_mode, old.st_uid, old.st_gid, old.st_rdev) != (new.st_mode, new.st_uid, new.st_gid, new.st_rdev):
        return True
    return not stat.S_ISDIR(new.st_mode) and (old.st_mtime_ns != new.st_mtime_ns or old.st_size != new.st_size)


def _capability(path: str) -> bytes | None:
    try:
        return os.getxattr(path, _CAPABILITY, follow_symlinks=False)
    except OSError:
        return None


class NaiveDiff:
    """A full copy's changes as a ``snapshot.Diff``: walked again each time it is asked,
    since the tree may still change between asks."""

    def __init__(self, top: str, below: str) -> None:
        self.top, self.below = top, below

    def empty(self) -> bool:
        return not changes(self.top, self.below)

    def write(self, out: BinaryIO) -> None:
        """The changed entries themselves (a directory without its contents) and a
        ``.wh.`` entry per deletion: moby's ExportChanges."""
        with LayerTarWriter(out) as tar:
            for path, kind in changes(self.top, self.below):
                rel = path[1:]
                if kind == DELETED:
                    parent, name = os.path.split(rel)
                    tar.empty(os.path.join(parent, WHITEOUT_PREFIX + name))
                else:
                    full = os.path.join(self.top, rel)
                    tar.add(rel, full, os.lstat(full))

    def needed(self, rel: str) -> bool:
        return os.path.lexists(os.path.join(self.below, rel.lstrip("/")))

    def size(self) -> int:
        """Bytes of the regular files added or modified, inodes counted once."""
        seen: set[int] = set()
        total = 0
        for path, kind in changes(self.top, self.below):
            if kind == DELETED:
                continue
            st = os.lstat(os.path.join(self.top, path[1:]))
            if stat.S_ISREG(st.st_mode) and st.st_ino not in seen:
                seen.add(st.st_ino)
                total += st.st_size
        return total
