"""Atomic state files: the one way wharf persists an object.

A ``kill -9`` at any instant must leave either the old or the new file, never
a torn one, so every write goes to a temp file in the same directory, is
fsynced, and is renamed over the target (rename is atomic within a
filesystem). Readers treat a missing file as "no state yet".

A full disk must never stop a removal or a start: ``empty_dir`` and
``remove_tree`` need no free block (on ext4 a ``mkdir`` does, a rename into
an existing directory and an unlink do not), and ``disk_full`` tells the
errors that mean "no space" from the rest.

Stdlib only and no ``tempfile`` (it imports ``random``): the shim and the CLI
use this too, and pay for every import on each start.
"""

from __future__ import annotations

import _thread
import errno
import json
import os
import shutil
from typing import Any

#: errnos of a write the filesystem refused for want of space (or failing under it).
DISK_FULL = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EIO})


def write_atomic(path: str, data: bytes, mode: int = 0o644, durable: bool = True) -> None:
    """Replace ``path`` with ``data``, atomically; durably unless ``durable`` is
    False (files rebuilt at every start, such as a bundle's, need no fsync)."""
    # Unique per process and thread: the daemon writes from worker threads.
    tmp = f"{path}.{os.getpid()}-{_thread.get_ident()}.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, mode)
    try:
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view):]
            if durable:
                os.fsync(fd)
        finally:
            os.close(fd)
        os.chmod(tmp, mode)  # the umask may have narrowed it
        os.rename(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise


def write_json_atomic(path: str, obj: Any, mode: int = 0o600, durable: bool = True) -> None:
    """Replace ``path`` with ``obj`` as JSON, atomically (and durably unless told not)."""
    write_atomic(path, json.dumps(obj, separators=(",", ":")).encode(), mode, durable)


def read_json(path: str) -> Any | None:
    """The JSON in ``path``, or None when the file does not exist (yet)."""
    try:
        with open(path) as f:
            return json.load(f)
    except FileNotFoundError:
        return None


def disk_full(error: BaseException) -> bool:
    """True for ENOSPC, EDQUOT and EIO: the disk, not the request, is at fault."""
    return isinstance(error, OSError) and error.errno in DISK_FULL


def empty_dir(path: str, mode: int = 0o700) -> None:
    """Make ``path`` an empty directory: its contents deleted, the directory itself kept,
    so a start on a full disk needs no new block for it (made only when missing)."""
    try:
        names = os.listdir(path)
    except FileNotFoundError:
        os.makedirs(path, mode)
        return
    for name in names:
        child = os.path.join(path, name)
        if os.path.isdir(child) and not os.path.islink(child):
            shutil.rmtree(child, ignore_errors=True)
        else:
            try:
                os.unlink(child)
            except FileNotFoundError:
                pass


def remove_tree(path: str, scratch: str) -> None:
    """Delete the tree at ``path`` without needing a free block: first renamed into the
    existing directory ``scratch`` (on the same filesystem, emptied at every start, so a
    crash mid-delete is finished there), so it is gone from its place at once. Should
    even that rename be refused (a full directory block), it is deleted in place."""
    doomed = os.path.join(scratch, f"{os.path.basename(path)}-{os.getpid()}-{_thread.get_ident()}")
    try:
        os.rename(path, doomed)
    except FileNotFoundError:
        if not os.path.lexists(path):
            return
        doomed = path  # the scratch directory itself is missing
    except OSError as e:
        if not disk_full(e):
            raise
        doomed = path
    shutil.rmtree(doomed, ignore_errors=True)
