"""The build cache: step key -> the image that step produced, kept on disk.

A key (``checksum.cache_key``) covers the parent image and the step's
config, so a hit is an image that the same instruction, with the same args
and sources, made on the same parent. Entries whose image has been removed
are ignored (and dropped) by the caller; the file survives daemon restarts.
"""

from __future__ import annotations

import json
import os
import threading

from wharf.image.refstore import write_json_atomic


class BuildCache:
    def __init__(self, path: str) -> None:
        self.path = path
        self._lock = threading.Lock()
        os.makedirs(os.path.dirname(path), exist_ok=True)
        try:
            with open(path) as f:
                self._entries: dict[str, str] = json.load(f)
        except (FileNotFoundError, ValueError):
            self._entries = {}

    def get(self, key: str) -> str | None:
        with self._lock:
            return self._entries.get(key)

    def put(self, key: str, image_id: str) -> None:
        with self._lock:
            self._entries[key] = image_id
            write_json_atomic(self.path, self._entries)

    def forget(self, key: str) -> None:
        with self._lock:
            if self._entries.pop(key, None) is not None:
                write_json_atomic(self.path, self._entries)

    def prune(self) -> list[str]:
        """Drop every entry; returns the keys dropped (``builder prune``'s CachesDeleted)."""
        with self._lock:
            keys = sorted(self._entries)
            self._entries = {}
            write_json_atomic(self.path, self._entries)
            return keys
