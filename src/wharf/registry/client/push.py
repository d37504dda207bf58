"""Push one tagged image from the image store to a repository.

Per layer (``max_uploads`` at a time, dockerd's ``max-concurrent-uploads``), cheapest first, as dockerd: a blob
this repository is known to hold (``HEAD``), the layer's own digest
(``HEAD``), a mount from a sibling repository on the same registry that the
layer was pulled from or pushed to, and only then an upload of the layer tar,
rebuilt from the store's layer and gzip-compressed on every core as it is
sent (``compress``). Its diff ID is checked as its last byte is read, before
the upload's closing PUT: a layer changed on disk is refused, never pushed.
An upload cut off is started over (a stream cannot resume), five tries in all.
The compressed blob's digest is remembered for the registry and repository
(``BlobSources``), so the next push of the layer there is a ``HEAD``. The
config follows, the manifest (Docker schema 2) last, so the registry never
names an incomplete image. The layers are held (``ImageStore.hold``) while
they are read, so an ``rmi`` meanwhile does not pull them away.
"""

from __future__ import annotations

import asyncio
from typing import Any

from wharf.image import manifest as mf
from wharf.image.reference import Reference
from wharf.image.store import ImageStore
from wharf.image.tarsplit import LayerTar
from wharf.registry.client.compress import GzipStream
from wharf.registry.client.progress import Emit, Meter, retrying, short, status
from wharf.registry.client.pull import Locked
from wharf.registry.client.repository import TRANSFER_RETRY_DELAYS, Repository
from wharf.registry.client.session import RegistryUnavailable
from wharf.registry.client.sources import BlobSources, Source


class Pusher:
    def __init__(self, store: ImageStore, locked: Locked[Any], emit: Emit, sources: BlobSources,
                 max_uploads: int) -> None:
        self.store, self.locked, self.emit, self.sources = store, locked, emit, sources
        self.max_uploads = max_uploads

    async def push(self, repo: Repository, ref: Reference, image_id: str) -> str:
        """Push ``image_id`` as ``ref``'s tag; returns the manifest's digest."""
        record = await self.locked(lambda: self.store.record(image_id))
        diff_ids, chains = record.diff_ids, record.chain_ids
        for diff_id in reversed(diff_ids):
            self.emit(status("Preparing", short(diff_id)))
        for diff_id in list(reversed(diff_ids))[self.max_uploads:]:
            self.emit(status("Waiting", short(diff_id)))
        slots = asyncio.Semaphore(self.max_uploads)
        tars = await self.locked(lambda: self._hold(chains))
        try:
            layers = await asyncio.gather(*(self._layer(repo, tar, slots) for tar in tars))
        finally:
            await self.locked(lambda: self.store.release(chains))
        config = await asyncio.to_thread(self.store.content.get, image_id)
        if not await repo.exists(image_id):
            await repo.upload(image_id, config)
        doc = {"schemaVersion": 2, "mediaType": mf.DOCKER_MANIFEST,
               "config": mf.Descriptor(mf.DOCKER_CONFIG, image_id, len(config)).to_json(),
               "layers": [d.to_json() for d in layers]}
        data = mf.encode(doc)
        assert ref.tag is not None
        digest = await repo.put_manifest(ref.tag, data, mf.DOCKER_MANIFEST)
        self.emit(status(f"{ref.tag}: digest: {digest} size: {len(data)}"))
        self.emit({"progressDetail": {}, "aux": {"Tag": ref.tag, "Digest": digest, "Size": len(data)}})
        await self.locked(lambda: self.store.refs.add(Reference(ref.domain, ref.path, None, digest), image_id))
        return digest

    def _hold(self, chains: list[str]) -> list[LayerTar]:
        tars = [self.store.layer_tar(c) for c in chains]
        self.store.hold(chains)
        return tars

    async def _layer(self, repo: Repository, tar: LayerTar, slots: asyncio.Semaphore) -> mf.Descriptor:
        diff_id = tar.diff_id
        id = short(diff_id)
        host = repo.session.host
        async with slots:
            known = [s for s in self.sources.get(diff_id) if s.registry == host]
            for source in (s for s in known if s.repository == repo.path):
                if await repo.exists(source.digest):
                    self.emit(status("Layer already exists", id))
                    return mf.Descriptor(source.media_type, source.digest, source.size)
            size = await asyncio.to_thread(lambda: tar.size)
            plain = Source(host, repo.path, diff_id, size, mf.DOCKER_LAYER)
            if await repo.exists(diff_id):
                self.emit(status("Layer already exists", id))
                return self._remember(diff_id, plain)
            location = None
            for source in (s for s in known if s.repository != repo.path):
                location = await repo.start_upload(mount=(source.digest, source.repository))
                if location is None:
                    self.emit(status(f"Mounted from {source.repository}", id))
                    return self._remember(diff_id, Source(host, repo.path, source.digest, source.size,
                                                          source.media_type))
                break  # the registry answered with an upload session: use it
            for delay in (*TRANSFER_RETRY_DELAYS, None):
                meter = Meter(self.emit, id, "Pushing", size)
                gz = GzipStream(tar.open, meter.add)  # type: ignore[arg-type]
                try:
                    await repo.upload_stream(gz, location)
                    break
                except RegistryUnavailable:
                    if delay is None:
                        raise
                    self.emit(retrying(delay, id))
                    await asyncio.sleep(delay)
                    location = None  # the next try starts an upload of its own
            self.emit(status("Pushed", id))
            return self._remember(diff_id, Source(host, repo.path, gz.digest, gz.size, mf.DOCKER_LAYER_GZIP))

    def _remember(self, diff_id: str, source: Source) -> mf.Descriptor:
        self.sources.add(diff_id, source)
        return mf.Descriptor(source.media_type, source.digest, source.size)

