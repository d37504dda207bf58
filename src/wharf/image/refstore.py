"""The tag store: which reference (``repo:tag`` or ``repo@digest``) names which image.

One JSON file shaped like Docker's ``repositories.json``::

    {"Repositories": {"docker.io/library/busybox":
                      {"docker.io/library/busybox:latest": "sha256:..."}}}

Names are kept fully qualified; rewritten atomically on every change. The
caller serialises changes (the image service holds one lock). A file that is
not that JSON (truncated, garbled by a disk fault) does not stop the daemon:
it is renamed aside (``repositories.json.broken-<unix time>``; a rename needs
no free space), logged, and every ``"name:tag": "sha256:..."`` pair still
readable in it is kept.
"""

from __future__ import annotations

import json
import logging
import os
import re
import time

from wharf.errors import InvalidParameter
from wharf.fsutil import disk_full, write_json_atomic
from wharf.image.reference import Reference, parse

log = logging.getLogger("wharf.image")
_PAIR_RE = re.compile(r'"([^"\\]+)"\s*:\s*"(sha256:[a-f0-9]{64})"')


class ReferenceStore:
    def __init__(self, path: str) -> None:
        self.path = path
        self._repos: dict[str, dict[str, str]] = {}
        try:
            with open(path, "rb") as f:
                data = f.read()
        except FileNotFoundError:
            return
        try:
            repos = json.loads(data)["Repositories"]
            if not all(isinstance(tags, dict) for tags in repos.values()):
                raise ValueError("a repository is not an object")
            self._repos = repos
        except (ValueError, KeyError, TypeError, AttributeError) as e:
            self._salvage(data, e)

    def _salvage(self, data: bytes, error: Exception) -> None:
        """Keep what a broken file still says, and the file itself beside it."""
        backup = f"{self.path}.broken-{int(time.time())}"
        os.rename(self.path, backup)
        for text, image_id in _PAIR_RE.findall(data.decode("utf-8", "replace")):
            try:
                ref = parse(text)
            except InvalidParameter:
                continue
            if ref.tag or ref.digest:
                self._repos.setdefault(ref.name, {})[str(ref)] = image_id
        log.error("%s is not valid (%s): kept a copy as %s, restored %d references from it",
                  self.path, error, backup, sum(len(tags) for tags in self._repos.values()))
        try:
            self._save()
        except OSError as e:  # a full disk: the next change writes it
            log.error("%s: %s", self.path, e)

    def _save(self) -> None:
        write_json_atomic(self.path, {"Repositories": self._repos})

    def get(self, ref: Reference) -> str | None:
        return self._repos.get(ref.name, {}).get(str(ref))

    def add(self, ref: Reference, image_id: str) -> str | None:
        """Point ``ref`` at ``image_id``; returns the image it named before, if another."""
        previous = self.get(ref)
        if previous == image_id:
            return None  # a rebuild re-tagging its image: nothing to write (nor fsync)
        self._repos.setdefault(ref.name, {})[str(ref)] = image_id
        self._save()
        return previous

    def delete(self, ref: Reference) -> bool:
        repo = self._repos.get(ref.name, {})
        if repo.pop(str(ref), None) is None:
            return False
        if not repo:
            del self._repos[ref.name]
        try:
            self._save()
        except OSError as e:
            if not disk_full(e):
                raise
            # An rmi on a full disk goes on (its layers free the space); the file is
            # rewritten whole by the next change, and a tag it still names for a
            # removed image names nothing (``ImageStore.resolve`` checks the image).
            log.warning("%s: untag of %s not saved yet: %s", self.path, ref, os.strerror(e.errno))
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
