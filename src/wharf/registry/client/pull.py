"""Pull one image (one tag or digest) from a repository into the image store.

The order of work, as dockerd's: the manifest (an index is narrowed to the
wanted platform), the config, then each layer the store lacks: downloaded
concurrently (``max_downloads`` at a time, dockerd's
``max-concurrent-downloads``) into a temp file, resumed where a dropped
connection cut it, unpacked off the loop (lock-free) as it arrives, verified
by digest and checked against the config's diff ID. Only when every layer
is verified are they committed, in order, with the image and its tags,
under the store lock in one go: a failure anywhere leaves nothing stored and
nothing registered.
"""

from __future__ import annotations

import asyncio
import collections
import json
import threading
from dataclasses import dataclass
from typing import Any, Awaitable, Callable, TypeVar

from wharf.errors import InvalidParameter, NotFound
from wharf.image import manifest as mf
from wharf.image.content import DigestMismatch
from wharf.image.layers import chain_ids
from wharf.image.reference import Reference
from wharf.image.store import ImageStore
from wharf.registry.client.progress import Emit, Meter, retrying, short, status
from wharf.registry.client.repository import Fetched, Repository
from wharf.registry.client.sources import BlobSources, Source
from wharf.threads import in_own_thread

T = TypeVar("T")
#: bytes of a layer downloaded ahead of its unpack, at most (then the download waits)
PIPE_LIMIT = 8 << 20
Locked = Callable[[Callable[[], T]], Awaitable[T]]


@dataclass
class Pulled:
    image_id: str
    digest: str  # of what the reference named (an index's digest for a multi-platform image)
    tag_updated: bool


class _Stopped(Exception):
    """The unpack ended before the download did: its own error says why."""


class _Pipe:
    """The download's bytes on their way to the unpack (a thread), held in memory.

    ``read(n)`` hands over what has arrived (one chunk, or ``n`` bytes of it),
    waiting until something has or the download ended (b""), or raising the
    download's failure (so the unpack stops). The blob is never written out
    and read back: the unpack runs as the layer arrives. At most ``limit``
    bytes wait; beyond, ``write`` waits until the unpack takes them (and the
    registry's connection with it), so a slow disk never fills memory; once
    the unpack stopped (``close``), ``write`` raises ``_Stopped``. Reads are
    reported (the ``Extracting`` bar).
    """

    def __init__(self, on_bytes: Callable[[int], None], limit: int) -> None:
        self._loop = asyncio.get_running_loop()
        self._on_bytes, self._limit = on_bytes, limit
        self._chunks: collections.deque[bytes] = collections.deque()
        self._held = 0
        self._changed = threading.Condition()
        self._ended = self._closed = False
        self._error: BaseException | None = None
        self._room: asyncio.Future[None] | None = None  # the download waits on it

    async def write(self, chunk: bytes) -> None:
        with self._changed:
            if self._closed:
                raise _Stopped()
            self._chunks.append(chunk)
            self._held += len(chunk)
            self._changed.notify()
            if self._held <= self._limit:
                return
            self._room = room = self._loop.create_future()
        await room

    def end(self, error: BaseException | None = None) -> None:
        with self._changed:
            self._ended, self._error = True, error
            self._changed.notify()

    def read(self, n: int = -1) -> bytes:
        with self._changed:
            while not self._chunks and not self._ended and self._error is None:
                self._changed.wait()
            if self._error is not None:
                raise self._error
            if not self._chunks:
                return b""
            data = self._chunks.popleft()
            if 0 <= n < len(data):
                data, rest = data[:n], data[n:]
                self._chunks.appendleft(rest)
            self._held -= len(data)
            if self._held <= self._limit:
                self._make_room()
        self._on_bytes(len(data))
        return data

    def close(self) -> None:
        """The unpack's side is done (whether or not it read to the end)."""
        with self._changed:
            self._closed = True
            self._chunks.clear()
            self._make_room()

    def _make_room(self) -> None:
        if self._room is not None:  # the download waits: let it go on
            self._loop.call_soon_threadsafe(_settle, self._room)
            self._room = None


def _settle(room: asyncio.Future[None]) -> None:
    if not room.done():
        room.set_result(None)


class Puller:
    def __init__(self, store: ImageStore, locked: Locked[Any], emit: Emit,
                 sources: BlobSources, now: Callable[[], str], max_downloads: int) -> None:
        self.store, self.locked, self.emit = store, locked, emit
        self.sources, self.now = sources, now
        self.max_downloads = max_downloads

    async def resolve(self, repo: Repository, ref: Reference,
                      platform: dict[str, str] | None) -> tuple[Fetched, mf.Manifest, str]:
        """(the image manifest, parsed, the digest the reference names)."""
        name = ref.digest or ref.tag or "latest"
        try:
            top = await repo.manifest(name)
        except NotFound as e:
            raise NotFound(f"manifest for {ref.familiar()} not found: {e.message}") from None
        fetched = top
        if mf.kind(top.json(), top.media_type) == "index":
            entry = mf.select_platform(mf.parse_index(top.json()), platform)
            fetched = await repo.manifest(entry.digest)
        if mf.kind(fetched.json(), fetched.media_type) != "manifest":
            raise InvalidParameter(f"{ref.familiar()}: an index entry must name an image manifest")
        return fetched, mf.parse_manifest(fetched.json()), top.digest

    async def pull(self, repo: Repository, ref: Reference, platform: dict[str, str] | None) -> Pulled:
        _, manifest, digest = await self.resolve(repo, ref, platform)
        self.emit(status(f"Pulling from {ref.path}", ref.tag or ref.digest))
        config_bytes = await repo.blob(manifest.config)
        config = mf.parse_json(config_bytes, "image config")
        diff_ids = list((config.get("rootfs") or {}).get("diff_ids") or [])
        if len(diff_ids) != len(manifest.layers):
            raise InvalidParameter(f"{ref.familiar()}: the manifest has {len(manifest.layers)} layers, "
                                   f"its config {len(diff_ids)} diff IDs")
        if config.get("os", "linux") != "linux":
            raise InvalidParameter(f'image operating system "{config["os"]}" cannot be used on this platform')
        image_id = manifest.config.digest
        pending: dict[int, Any] = {}
        try:
            if not await asyncio.to_thread(self.store.exists, image_id):
                pending = await self._fetch_layers(repo, manifest.layers, diff_ids)
            return await self.locked(lambda: self._commit(repo, ref, manifest, diff_ids, config_bytes,
                                                          pending, digest))
        finally:
            for item in pending.values():
                self.store.discard_layer(item)

    async def _fetch_layers(self, repo: Repository, layers: list[mf.Descriptor],
                            diff_ids: list[str]) -> dict[int, Any]:
        chains = chain_ids(diff_ids)
        have = await asyncio.to_thread(lambda: [self.store.layers.exists(c) for c in chains])
        missing = [i for i, present in enumerate(have) if not present]
        for i, desc in enumerate(layers):
            self.emit(status("Pulling fs layer" if i in missing else "Already exists", short(desc.digest)))
        for i in missing[self.max_downloads:]:
            self.emit(status("Waiting", short(layers[i].digest)))
        slots = asyncio.Semaphore(self.max_downloads)
        pending: dict[int, Any] = {}
        tasks = [asyncio.create_task(self._fetch_layer(repo, layers[i], diff_ids[i], slots)) for i in missing]
        try:
            for i, task in zip(missing, tasks):
                pending[i] = await task
        except BaseException:
            for task in tasks:
                task.cancel()
            for task in tasks:
                try:
                    item = await task
                except BaseException:
                    continue
                self.store.discard_layer(item)
            for item in pending.values():
                self.store.discard_layer(item)
            raise
        return pending

    async def _fetch_layer(self, repo: Repository, desc: mf.Descriptor, diff_id: str,
                           slots: asyncio.Semaphore) -> Any:
        """Download, verify and unpack one layer; the pending layer for ``commit_layer``."""
        id = short(desc.digest)
        loop = asyncio.get_running_loop()
        downloaded = False
        extracting = Meter(lambda m: downloaded and loop.call_soon_threadsafe(self.emit, m), id, "Extracting",
                           desc.size)  # shown once the download is complete, as Docker's
        pipe = _Pipe(extracting.add, PIPE_LIMIT)

        def unpack() -> Any:
            try:
                item = self.store.unpack_layer(pipe)  # type: ignore[arg-type]
            finally:
                pipe.close()
            if item[0].diff_id != diff_id:
                self.store.discard_layer(item)
                raise DigestMismatch(f"layer {desc.digest}: its content is {item[0].diff_id}, "
                                     f"the image config says {diff_id}")
            return item
        unpacking: asyncio.Future[Any] | None = None
        try:
            async with slots:
                unpacking = asyncio.ensure_future(in_own_thread(unpack))  # waits on the download
                meter = Meter(self.emit, id, "Downloading", desc.size)
                try:
                    await repo.download(desc, pipe.write, meter.add, lambda delay: self.emit(retrying(delay, id)))
                except _Stopped:
                    await unpacking  # its error (a refused entry) is the layer's
                    raise
                self.emit(status("Verifying Checksum", id))
                self.emit(status("Download complete", id))
            downloaded = True
            pipe.end()
            return await unpacking
        except BaseException as e:
            pipe.end(e)
            if unpacking is not None:
                for result in await asyncio.gather(unpacking, return_exceptions=True):
                    if not isinstance(result, BaseException):
                        self.store.discard_layer(result)
            raise

    def _commit(self, repo: Repository, ref: Reference, manifest: mf.Manifest, diff_ids: list[str],
                config_bytes: bytes, pending: dict[int, Any], digest: str) -> Pulled:
        """Under the store lock: layers in order, the image, its references, the blob sources."""
        parent = None
        for i, chain in enumerate(chain_ids(diff_ids)):
            if i in pending:
                self.store.commit_layer(pending[i], parent)
                self.emit(status("Pull complete", short(manifest.layers[i].digest)))
            elif not self.store.exists(manifest.config.digest) and not self.store.layers.exists(chain):
                raise NotFound(f"layer {chain} was removed while the pull ran; pull again")
            parent = chain
        image_id = self.store.create_raw(config_bytes)
        for desc, diff_id in zip(manifest.layers, diff_ids):
            self.sources.add(diff_id, Source(repo.session.host, repo.path, desc.digest, desc.size, desc.media_type))
        tag_updated = True
        if ref.tag:
            tag_updated = self.store.refs.get(ref) != image_id
            self.store.tag(image_id, ref, self.now())
        self.store.refs.add(Reference(ref.domain, ref.path, None, digest), image_id)
        self.emit(status(f"Digest: {digest}"))
        return Pulled(image_id, digest, tag_updated)


def config_platform(config_bytes: bytes) -> dict[str, str]:
    """``{"os", "architecture"[, "variant"]}`` of an image config."""
    config = json.loads(config_bytes)
    return {k: config[k] for k in ("architecture", "os", "variant") if config.get(k)}
