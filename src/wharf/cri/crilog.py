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
import threading
from typing import Callable

from wharf.runtime import jsonlog
from wharf.runtime.jsonlog import Entry


def line(entry: Entry) -> bytes:
    """One CRI log line for one json-file record."""
    full = entry.data.endswith(b"\n")
    data = entry.data[:-1] if full else entry.data
    return b"%s %s %s %s\n" % (entry.time.encode(), entry.stream.encode(),
                               b"F" if full else b"P", data)


class Copier:
    """One running container's copy; ``reopen()`` (ReopenContainerLog, after the kubelet
    rotated the file away) makes the file anew and has the copy write there from the
    next record on."""

    def __init__(self, json_path: str, cri_path: str) -> None:
        self.json_path, self.cri_path = json_path, cri_path
        self._reopen = threading.Event()

    def create(self) -> None:
        """Make the file (and its directory): it exists once the start has answered."""
        os.makedirs(os.path.dirname(self.cri_path) or ".", exist_ok=True)
        open(self.cri_path, "ab").close()

    def reopen(self) -> None:
        self.create()
        self._reopen.set()

    def run(self, since_ns: int | None, stopped: Callable[[], bool]) -> None:
        """Follow the json-file log from ``since_ns`` until ``stopped()``, appending to
        the CRI log (blocking: run it on a thread of its own)."""
        out = open(self.cri_path, "ab", buffering=0)
        try:
            for entry in jsonlog.read(self.json_path, since_ns=since_ns, follow=True,
                                      stopped=stopped):
                if self._reopen.is_set():
                    self._reopen.clear()
                    out.close()
                    out = open(self.cri_path, "ab", buffering=0)
                out.write(line(entry))
        finally:
            out.close()
