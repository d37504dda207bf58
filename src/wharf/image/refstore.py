"""The tag store: which reference (``repo:tag`` or ``repo@digest``) names which image.

One JSON file shaped like Docker's ``repositories.json``::

    {"Repositories": {"docker.io/library/busybox":
                      {"docker.io/library/busybox:latest": "sha256:..."}}}

Names are kept fully qualified; rewritten atomically on every change. The
caller serialises changes (the image service holds one lock).
"""

from __future__ import annotations

import json

from wharf.fsutil import write_json_atomic
from wharf.image.reference import Reference, parse


class ReferenceStore:
    def __init__(self, path: str) -> None:
        self.path = path
        try:
            with open(path) as f:
                self._repos: dict[str, dict[str, str]] = json.load(f).get("Repositories", {})
        except FileNotFoundError:
            self._repos = {}

    def _save(self) -> None:
        write_json_atomic(self.path, {"Repositories": self._repos})

    def get(self, ref: Reference) -> str | None:
        return self._repos.get(ref.name, {}).get(str(ref))

    def add(self, ref: Reference, image_id: str) -> str | None:
        """Point ``ref`` at ``image_id``; returns the image it named before, if another."""
        previous = self.get(ref)
        self._repos.setdefault(ref.name, {})[str(ref)] = image_id
        self._save()
        return previous if previous != image_id else None

    def delete(self, ref: Reference) -> bool:
        repo = self._repos.get(ref.name, {})
        if repo.pop(str(ref), None) is None:
            return False
        if not repo:
            del self._repos[ref.name]
        self._save()
        return True

    def references(self, image_id: str) -> list[Reference]:
        """Every reference naming ``image_id``, sorted like Docker's output."""
        return sorted((parse(text) for repo in self._repos.values()
                       for text, target in repo.items() if target == image_id), key=str)

    def entries(self) -> list[tuple[Reference, str]]:
        """Every (reference, image ID) pair."""
        return [(parse(text), target) for repo in self._repos.values() for text, target in repo.items()]

    def referenced_ids(self) -> set[str]:
        return {target for repo in self._repos.values() for target in repo.values()}
