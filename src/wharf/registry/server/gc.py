"""``wharf registry gc``: mark the blobs manifests reference, sweep the rest.

Run it with the server stopped (as distribution's garbage-collect): an upload
finishing during the sweep could link a blob the mark phase did not see.
A blob is kept when a manifest revision of any repository is it or names it
(config and layers); repository links to swept blobs go with them. Uploads
untouched for a week (distribution's purge age), such as those a crash or a
vanished client left, are removed too.
"""

from __future__ import annotations

import os
import time

from wharf.registry.server import manifests
from wharf.registry.server.errors import RegistryError
from wharf.registry.server.names import Digest
from wharf.registry.server.storage import Storage

#: an upload whose data has not changed for this long is abandoned
UPLOAD_MAX_AGE = 7 * 24 * 3600


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


def stale_uploads(root: str, dry_run: bool = False, max_age: float = UPLOAD_MAX_AGE) -> list[str]:
    """Ids of uploads untouched for ``max_age`` seconds; removed unless ``dry_run``."""
    storage = Storage(root)
    cutoff = time.time() - max_age
    stale = []
    for upload_id in storage.upload_ids():
        try:
            touched = os.path.getmtime(os.path.join(storage.root, "uploads", upload_id, "data"))
        except FileNotFoundError:       # killed between mkdir and creating data
            touched = 0
        if touched < cutoff:
            stale.append(upload_id)
            if not dry_run:
                storage.drop_upload(upload_id)
    return stale
