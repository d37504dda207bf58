"""Where each layer is known to live in registries, so a push can skip or mount it.

A layer the store holds uncompressed (its diff ID) may sit in a registry
as another blob (the gzip it was pulled as). For each diff ID we remember
the blobs seen in which repository of which registry; a push checks those
first (``HEAD``), and mounts one from a sibling repository on the same
registry instead of uploading the layer again, as dockerd's v2 metadata does.
One small JSON file per diff ID, written atomically.
"""

from __future__ import annotations

import json
import os
import threading
from dataclasses import asdict, dataclass

from wharf.image.content import digest_hex
from wharf.image.refstore import write_json_atomic

_MAX_PER_LAYER = 16


@dataclass(frozen=True)
class Source:
    registry: str  # host[:port]
    repository: str  # path inside it
    digest: str  # the blob's digest there
    size: int
    media_type: str


class BlobSources:
    def __init__(self, root: str) -> None:
        self.root = root
        os.makedirs(root, exist_ok=True)
        self._lock = threading.Lock()

    def _path(self, diff_id: str) -> str:
        return os.path.join(self.root, digest_hex(diff_id) + ".json")

    def get(self, diff_id: str) -> list[Source]:
        try:
            with open(self._path(diff_id)) as f:
                return [Source(**entry) for entry in json.load(f)]
        except (FileNotFoundError, ValueError, TypeError):
            return []

    def add(self, diff_id: str, source: Source) -> None:
        """Remember ``source`` first (the newest is the likeliest to still be there)."""
        with self._lock:
            kept = [s for s in self.get(diff_id) if (s.registry, s.repository) != (source.registry, source.repository)]
            write_json_atomic(self._path(diff_id), [asdict(s) for s in [source, *kept][:_MAX_PER_LAYER]])
