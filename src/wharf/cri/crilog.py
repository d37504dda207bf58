"""Container logs in CRI's format, at the path the kubelet gave.

The shim writes every container's output to its json-file log; for a CRI
container a copier follows that log (on a thread of its own, for as long as
the container runs) and appends each record to the CRI log as
``<RFC3339Nano> stdout|stderr F|P <line>``: ``F`` for a record that ends a
line (its newline dropped), ``P`` for a partial one. The kubelet and
``crictl logs`` read that file directly. The copier returns once everything
the container wrote before it exited is copied, so a status read after the
exit finds the whole log.
"""

from __future__ import annotations

import os
from typing import Callable

from wharf.runtime import jsonlog
from wharf.runtime.jsonlog import Entry


def line(entry: Entry) -> bytes:
    """One CRI log line for one json-file record."""
    full = entry.data.endswith(b"\n")
    data = entry.data[:-1] if full else entry.data
    return b"%s %s %s %s\n" % (entry.time.encode(), entry.stream.encode(),
                               b"F" if full else b"P", data)


def copy(json_path: str, cri_path: str, since_ns: int | None,
         stopped: Callable[[], bool]) -> None:
    """Follow ``json_path`` from ``since_ns`` until ``stopped()``, appending to ``cri_path``
    (blocking: run it on a thread of its own)."""
    os.makedirs(os.path.dirname(cri_path) or ".", exist_ok=True)
    with open(cri_path, "ab", buffering=0) as out:
        for entry in jsonlog.read(json_path, since_ns=since_ns, follow=True, stopped=stopped):
            out.write(line(entry))
