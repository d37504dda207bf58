"""``wharf registry gc``: mark the blobs manifests reference, sweep the rest.

Run it with the server stopped (as distribution's garbage-collect): an upload
finishing during the sweep could link a blob the mark phase did not see.
A blob is kept when a manifest revision of any repository is it or names it
(config and layers); repository links to swept blobs go with them.
"""

from __future__ import annotations

import os

from wharf.registry.server import manifests
from wharf.registry.server.errors import RegistryError
from wharf.registry.server.names import Digest
from wharf.registry.server.storage import Storage


def collect(root: str, dry_run: bool = False) -> tuple[int, list[Digest]]:
    """(number of blobs kept, blobs eligible for deletion); deletes them unless ``dry_run``."""
    storage = Storage(root)
    repos = storage.repositories()
    marked: set[Digest] = set()
    for repo in repos:
        for digest in storage.revisions(repo):
            marked.add(digest)
            stored = storage.read_manifest(repo, digest)
            if stored is None:
                continue
            try:
                marked.update(manifests.parse(*stored).blobs)
            except RegistryError:     # unreadable manifest: keep what we can, delete nothing it might use
                continue
    sweep = [d for d in storage.blob_digests() if d not in marked]
    if not dry_run:
        for digest in sweep:
            for repo in repos:
                storage.unlink_blob(repo, digest)
            os.unlink(storage.blob_path(digest))
    return len(marked), sweep
