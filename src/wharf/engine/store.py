"""Atomic JSON state files: the one way the daemon persists an object.

A ``kill -9`` at any instant must leave either the old or the new file, never
a torn one, so every write goes to a temp file in the same directory, is
fsynced, and is renamed over the target (rename is atomic within a
filesystem). Readers treat a missing file as "no state yet".
"""

from __future__ import annotations

import json
import os
import tempfile
from typing import Any


def write_json_atomic(path: str, obj: Any, mode: int = 0o600) -> None:
    """Replace ``path`` with ``obj`` as JSON, atomically and durably."""
    directory = os.path.dirname(path) or "."
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=directory)
    try:
        with os.fdopen(fd, "w") as f:
            json.dump(obj, f, separators=(",", ":"))
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, mode)
        os.rename(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise


def read_json(path: str) -> Any | None:
    """The JSON in ``path``, or None when the file does not exist (yet)."""
    try:
        with open(path) as f:
            return json.load(f)
    except FileNotFoundError:
        return None
