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
from wharf.image.layerdiff import ADDED, DELETED, MODIFIED, LayerTarWriter, is_init_stub, regular_bytes

_CAPABILITY = "security.capability"


#: ("/path", kind, lstat of the entry in the copy; None for a deletion)
Change = tuple[str, int, os.stat_result | None]


def changes(top: str, below: str) -> list[tuple[str, int]]:
    """("/path", kind) of ``top`` against ``below``, sorted by path."""
    return [(path, kind) for path, kind, _ in walk_changes(top, below)]


def walk_changes(top: str, below: str) -> list[Change]:
    """The changes with the entries' lstat, in one walk of both trees, sorted by path."""
    out: list[Change] = []
    _compare("", top, below, out)
    return sorted(out, key=lambda c: c[:2])


def _compare(rel: str, new: str, old: str | None, out: list[Change]) -> None:
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
                out.append(("/" + child, ADDED, st))
        elif _different(old_st, st) or _capability(old_path) != _capability(path):
            out.append(("/" + child, MODIFIED, st))
        else:
            reported = False
        if stat.S_ISDIR(st.st_mode):
            below = old_path if old_st is not None and stat.S_ISDIR(old_st.st_mode) else None
            start = len(out)
            _compare(child, path, below, out)
            if len(out) > start and not reported:
                out.append(("/" + child, MODIFIED, st))
    out.extend(("/" + (f"{rel}/{name}" if rel else name), DELETED, None) for name in old_names - set(new_names))


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
    """A full copy's changes as a ``snapshot.Diff``. The trees are walked once, when
    first asked: a Diff is asked after the writes (a commit asks whether it is
    empty, then writes it), and a walk of a whole image's copy is the commit's cost."""

    def __init__(self, top: str, below: str) -> None:
        self.top, self.below = top, below
        self._found: list[Change] | None = None

    def _changes(self) -> list[Change]:
        if self._found is None:
            self._found = walk_changes(self.top, self.below)
        return self._found

    def empty(self) -> bool:
        return not self._changes()

    def write(self, out: BinaryIO) -> None:
        """The changed entries themselves (a directory without its contents) and a
        ``.wh.`` entry per deletion: moby's ExportChanges."""
        with LayerTarWriter(out) as tar:
            for path, _, st in self._changes():
                rel = path[1:]
                if st is None:
                    parent, name = os.path.split(rel)
                    tar.empty(os.path.join(parent, WHITEOUT_PREFIX + name))
                else:
                    tar.add(rel, os.path.join(self.top, rel), st)

    def needed(self, rel: str) -> bool:
        return os.path.lexists(os.path.join(self.below, rel.lstrip("/")))

    def size(self) -> int:
        """Bytes of the regular files added or modified, inodes counted once."""
        return regular_bytes(st for _, _, st in self._changes() if st is not None)
