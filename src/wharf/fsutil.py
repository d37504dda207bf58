"""Atomic state files: the one way wharf persists an object.

A ``kill -9`` at any instant must leave either the old or the new file, never
a torn one, so every write goes to a temp file in the same directory, is
fsynced, and is renamed over the target (rename is atomic within a
filesystem). Readers treat a missing file as "no state yet".

Stdlib only and no ``tempfile`` (it imports ``random``): the shim and the CLI
use this too, and pay for every import on each start.
"""

from __future__ import annotations

import _thread
import json
import os
from typing import Any


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
