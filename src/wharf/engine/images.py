"""ImageService: the engine's view of the image store (``wharf.image``).

It adds what the store does not know about: Docker's rules for removing
images that containers use, the JSON shapes of ``images/json`` and
``images/{name}/json``, events, and threads. Every public method is a
coroutine; the blocking work runs in ``asyncio.to_thread`` under one lock
(image changes are rare and short; an import unpacks its layer before it
takes the lock, so a slow upload blocks nobody); callers queue for it on
the loop, not on pool threads. Work paced by a client (save, load, import,
export) runs on a thread of its own (``wharf.threads``), never in the pool
that every start needs. Mounting and sizing rw layers take no lock: a
container start never waits for an import.
"""

from __future__ import annotations

import asyncio
import contextlib
import fnmatch
import os
import threading
import time
from collections import Counter
from typing import Any, BinaryIO, Callable, Iterator, NamedTuple, TypeVar

from wharf import __version__
from wharf.config import DaemonConfig
from wharf.engine import filters as flt
from wharf.engine.events import EventBus
from wharf.engine.timefmt import ZERO_TIME, parse_rfc3339, parse_timestamp, rfc3339nano
from wharf.errors import Conflict, InvalidParameter, NotFound
from wharf.image import changes as image_changes
from wharf.image import drivers, imagearchive, layerdiff, reference
from wharf.image.check import Check
from wharf.image.layers import Layer
from wharf.image.manifest import host_arch, platform_matches
from wharf.image.snapshot import Diff
from wharf.image.reference import Reference
from wharf.image.store import BrokenImage, ImageRecord, ImageStore
from wharf.threads import in_own_thread

__all__ = ["ContainerUse", "ImageRecord", "ImageService"]

LIST_FILTERS = ("before", "dangling", "label", "reference", "since")
PRUNE_FILTERS = ("dangling", "label", "label!", "until")
T = TypeVar("T")


class ContainerUse(NamedTuple):
    """A container standing on an image, as ``delete`` needs to know it."""

    id: str
    running: bool


#: image ID -> the containers created from it (given by the container service)
ContainersUsing = Callable[[str], list[ContainerUse]]


def short_id(image_id: str) -> str:
    return image_id.removeprefix("sha256:")[:12]


def _now() -> str:
    return rfc3339nano(time.time_ns())


class ImageService:
    def __init__(self, config: DaemonConfig, events: EventBus) -> None:
        # the data root's driver, settled once and written back: info and inspect show it
        config.storage_driver = drivers.choose(config.image_dir, config.storage_driver)
        self.store = ImageStore(config.image_dir, config.storage_driver)
        self.events = events
        self._lock = threading.Lock()
        #: taken on the loop before ``_lock``: callers queue here, not on pool threads
        self._queue = asyncio.Lock()

    async def _locked(self, fn: Callable[..., T], *args: Any) -> T:
        def call() -> T:
            with self._lock:
                return fn(*args)
        async with self._queue:
            return await asyncio.to_thread(call)

    def _publish(self, action: str, image_id: str, name: str | None = None) -> None:
        self.events.publish("image", action, image_id, {"name": name or image_id})

    # -- lookups -----------------------------------------------------------
    async def get(self, ref_or_id: str) -> ImageRecord:
        """By full ID, unique ID prefix or reference; ``NotFound("No such image: x:latest")``."""
        return await self._locked(lambda: self.store.record(self.store.resolve(ref_or_id)))

    async def get_for_platform(self, ref_or_id: str, wanted: dict[str, str]) -> ImageRecord:
        """``get``, refused as dockerd 20.10 refuses an image here for another platform than
        ``wanted``: with a NotFound, so that a client pulls the one for that platform."""
        record = await self.get(ref_or_id)
        actual = {k: record.config[k] for k in ("os", "architecture", "variant") if record.config.get(k)}
        if not platform_matches(wanted, actual):
            def words(p: dict[str, str]) -> str:
                return "/".join(p[k] for k in ("os", "architecture", "variant") if p.get(k))
            raise NotFound(f"image with reference {ref_or_id} was found but does not match the specified "
                           f"platform: wanted {words(wanted)}, actual: {words(actual)}")
        return record

    async def count(self) -> int:
        return len(await asyncio.to_thread(self.store.ids))

    async def inspect(self, ref_or_id: str) -> dict[str, Any]:
        """``GET /images/{name}/json``."""
        def build() -> dict[str, Any]:
            record = self.store.record(self.store.resolve(ref_or_id))
            return _inspect_json(record, self.store.graph_driver(record.id))
        return await self._locked(build)

    async def list(self, all: bool = False, filters: flt.Filters | None = None,
                   shared_size: bool = False) -> list[dict[str, Any]]:
        """``GET /images/json``, newest first (RepoDigests are always filled in);
        ``SharedSize`` is -1 unless ``shared_size`` (API 1.42's ``shared-size``)."""
        def build() -> list[dict[str, Any]]:
            images = self._list(all, filters or {})
            if shared_size:
                self._share(images)
            return images
        return await self._locked(build)

    def _list(self, all_: bool, f: flt.Filters) -> list[dict[str, Any]]:
        for key in f:
            if key not in LIST_FILTERS:
                raise InvalidParameter(f"invalid filter '{key}'")
        dangling = f.get("dangling", [])
        if any(v.lower() not in ("true", "false", "1", "0") for v in dangling):
            raise InvalidParameter(f"Invalid filter 'dangling={dangling[0]}'")
        dangling_only = any(v.lower() in ("true", "1") for v in dangling)
        before = min((self._created(r) for r in f.get("before", [])), default=None)
        since = max((self._created(r) for r in f.get("since", [])), default=None)
        out = []
        for image_id in self.store.ids():
            try:
                record = self.store.record(image_id)
            except BrokenImage:
                continue  # found broken now: logged, and left out as at start
            created = parse_rfc3339(record.created)
            labels = record.container_config.get("Labels") or {}
            if (before is not None and created >= before) or (since is not None and created <= since):
                continue
            if "label" in f and not flt.match_labels(labels, f["label"]):
                continue
            tags, digests = record.repo_tags, record.repo_digests
            if "reference" in f:
                tags = [t for t in tags if _ref_matches(t, f["reference"])]
                digests = [d for d in digests if _ref_matches(d, f["reference"])]
                if not tags and not digests:
                    continue
            if not tags and not digests:
                if not (all_ or not self.store.children(image_id)) or (dangling and not dangling_only):
                    continue
                tags, digests = ["<none>:<none>"], ["<none>@<none>"]
            elif dangling_only:
                continue
            out.append({"Containers": -1, "Created": created // 1_000_000_000, "Id": image_id,
                        "Labels": labels or None, "ParentId": record.parent, "RepoDigests": digests,
                        "RepoTags": tags, "SharedSize": -1, "Size": record.size,
                        "VirtualSize": record.size})
        out.sort(key=lambda i: i["Created"], reverse=True)
        return out

    def _created(self, ref_or_id: str) -> int:
        return parse_rfc3339(self.store.record(self.store.resolve(ref_or_id)).created)

    # -- tags and removal ----------------------------------------------------
    async def tag(self, ref_or_id: str, repo: str, tag: str = "") -> None:
        """``POST /images/{name}/tag``: ``repo`` may carry the tag itself."""
        new_ref = _tag_reference(repo, tag)

        def do() -> str:
            image_id = self.store.resolve(ref_or_id)
            self.store.tag(image_id, new_ref, _now())
            return image_id
        self._publish("tag", await self._locked(do), new_ref.familiar())

    async def delete(self, ref_or_id: str, force: bool = False, noprune: bool = False,
                     containers_using: ContainersUsing | None = None) -> list[dict[str, str]]:
        """``DELETE /images/{name}``: Docker's untag-or-delete rules; returns its records."""
        using = containers_using or (lambda _id: [])
        records, events = await self._locked(self._delete, ref_or_id, force, not noprune, using)
        for action, image_id in events:
            self._publish(action, image_id)
        return records

    def _delete(self, text: str, force: bool, prune: bool,
                using: ContainersUsing) -> tuple[list[dict[str, str]], list[tuple[str, str]]]:
        image_id = self.store.resolve(text, broken=True)  # a broken image goes by its ID
        records: list[dict[str, str]] = []
        events: list[tuple[str, str]] = []
        refs = self.store.refs.references(image_id)
        by_id = image_id.startswith(text) or image_id.startswith("sha256:" + text)

        def untag(ref: Reference) -> None:
            self.store.refs.delete(ref)
            records.append({"Untagged": ref.familiar()})
            events.append(("untag", image_id))

        if not by_id:
            ref = reference.parse_tagged(text)
            users = using(image_id)
            if not force and _single_reference(refs) and users:
                raise Conflict(f'conflict: unable to remove repository reference "{text}" (must force) - '
                               f"container {users[0].id[:12]} is using its referenced image {short_id(image_id)}")
            untag(ref)
            remaining = self.store.refs.references(image_id)
            if ref.digest is None and not any(r.tag and r.name == ref.name for r in remaining):
                for digest_ref in [r for r in remaining if r.digest and r.name == ref.name]:
                    untag(digest_ref)
            if self.store.refs.references(image_id):
                return records, events
            conflict = self._conflict(image_id, force, using, with_refs=False)
            if conflict is not None:
                if conflict[1]:  # in use: keep it, untagged, as Docker does
                    return records, events
                raise Conflict(conflict[0])
        else:
            if _single_reference(refs):
                conflict = self._conflict(image_id, force, using, with_refs=False)
                if conflict is not None:
                    raise Conflict(conflict[0])
                for ref in refs:
                    untag(ref)
            conflict = self._conflict(image_id, force, using, with_refs=True)
            if conflict is not None:
                raise Conflict(conflict[0])
        self._remove(image_id, prune, records, events)
        return records, events

    def _conflict(self, image_id: str, force: bool, using: ContainersUsing,
                  with_refs: bool) -> tuple[str, bool] | None:
        """(message, image in use) of the first conflict that forbids deleting, if any."""
        short = short_id(image_id)
        if self.store.children(image_id):
            return f"conflict: unable to delete {short} (cannot be forced) - image has dependent child images", False
        users = using(image_id)
        running = [c for c in users if c.running]
        if running:
            return (f"conflict: unable to delete {short} (cannot be forced) - "
                    f"image is being used by running container {running[0].id[:12]}"), True
        if force:
            return None
        if with_refs and self.store.refs.references(image_id):
            return f"conflict: unable to delete {short} (must be forced) - image is referenced in multiple repositories", False
        if users:
            return (f"conflict: unable to delete {short} (must be forced) - "
                    f"image is being used by stopped container {users[0].id[:12]}"), True
        return None

    def _remove(self, image_id: str, prune: bool, records: list[dict[str, str]],
                events: list[tuple[str, str]]) -> None:
        """Delete the image, then (``prune``) each untagged parent nothing else needs."""
        while image_id:
            parent = self.store.parent(image_id)
            for ref in self.store.refs.references(image_id):
                self.store.refs.delete(ref)
                records.append({"Untagged": ref.familiar()})
                events.append(("untag", image_id))
            removed = self.store.delete(image_id)
            events.append(("delete", image_id))
            records.append({"Deleted": image_id})
            records.extend({"Deleted": chain} for chain in removed)
            image_id = parent if prune and parent and self.store.exists(parent) and not (
                self.store.refs.references(parent) or self.store.children(parent)) else ""

    # -- import --------------------------------------------------------------
    async def import_tar(self, stream: BinaryIO, repo: str = "", tag: str = "",
                         changes: list[str] | None = None, message: str = "") -> str:
        """``POST /images/create?fromSrc=-``: one layer from a rootfs tar.

        ``stream`` is read in a thread (it may block). Bad ``repo``/``tag``/
        ``changes`` fail before any byte of it is read.
        """
        new_ref = _tag_reference(repo, tag) if repo else None
        container_config = image_changes.apply(image_changes.empty_config(), changes or [])
        message = message or "Imported from -"

        def do() -> str:
            pending = self.store.unpack_layer(stream)  # a slow client holds no lock
            try:
                with self._lock:
                    return commit(self.store.commit_layer(pending))
            finally:
                self.store.discard_layer(pending)

        def commit(layer: Layer) -> str:
            created = _now()
            config = {
                "architecture": host_arch(),
                "comment": message, "config": container_config,
                "container_config": image_changes.empty_config(), "created": created,
                "docker_version": __version__,
                "history": [{"created": created, "comment": message}], "os": "linux",
                "rootfs": {"type": "layers", "diff_ids": [layer.diff_id]},
            }
            image_id = self.store.create(config)
            if new_ref is not None:
                self.store.tag(image_id, new_ref, created)
            return image_id
        image_id = await in_own_thread(do)
        self._publish("import", image_id)
        if new_ref is not None:
            self._publish("tag", image_id, new_ref.familiar())
        return image_id

    # -- history and prune ---------------------------------------------------
    async def history(self, ref_or_id: str) -> list[dict[str, Any]]:
        """``GET /images/{name}/history``: newest first; entries of images we hold carry their ID."""
        return await self._locked(self._history, ref_or_id)

    def _history(self, text: str) -> list[dict[str, Any]]:
        image_id = self.store.resolve(text)
        record = self.store.record(image_id)
        chains = iter(record.chain_ids)
        out = []
        for entry in record.history:
            chain = None if entry.get("empty_layer") else next(chains, None)
            out.append({"Id": "<missing>", "Created": parse_rfc3339(entry.get("created") or "") // 1_000_000_000,
                        "CreatedBy": entry.get("created_by", ""), "Tags": None,
                        "Size": self.store.layers.get(chain).size if chain else 0,
                        "Comment": entry.get("comment", "")})
        out.reverse()
        current = image_id
        while current and self.store.exists(current) and out:
            ancestor = self.store.record(current)
            top = len(out) - len(ancestor.history)
            if top < 0:
                break
            out[top].update(Id=current, Tags=ancestor.repo_tags or None)
            current = ancestor.parent
        return out

    async def prune(self, filters: flt.Filters | None = None,
                    containers_using: ContainersUsing | None = None) -> dict[str, Any]:
        """``POST /images/prune``: dangling images (or, with ``dangling=false``, every unused one)."""
        f = filters or {}
        for key in f:
            if key not in PRUNE_FILTERS:
                raise InvalidParameter(f"invalid filter '{key}'")
        dangling = f.get("dangling", ["true"])
        if any(v.lower() not in ("true", "false", "1", "0") for v in dangling):
            raise InvalidParameter(f"Invalid filter 'dangling={dangling[0]}'")
        until = None
        if f.get("until"):
            try:
                until = int(parse_timestamp(f["until"][0]) * 1e9)
            except ValueError as e:
                raise InvalidParameter(str(e)) from None
        using = containers_using or (lambda _id: [])
        deleted, reclaimed, events = await self._locked(
            self._prune, any(v.lower() in ("true", "1") for v in dangling), until, f, using)
        for action, image_id in events:
            self._publish(action, image_id)
        self.events.publish("image", "prune", "", {"reclaimed": str(reclaimed)})
        return {"ImagesDeleted": deleted or None, "SpaceReclaimed": reclaimed}

    def _prune(self, dangling_only: bool, until: int | None, f: flt.Filters,
               using: ContainersUsing) -> tuple[list[dict[str, str]], int, list[tuple[str, str]]]:
        sizes = {c: self.store.layers.get(c).size for c in self.store.layers.chains()}
        records: list[dict[str, str]] = []
        events: list[tuple[str, str]] = []
        for image_id in self.store.ids():
            if not self.store.exists(image_id) or self.store.children(image_id) or using(image_id):
                continue
            record = self.store.record(image_id)
            labels = record.container_config.get("Labels") or {}
            if dangling_only and (record.repo_tags or record.repo_digests):
                continue
            if until is not None and parse_rfc3339(record.created) >= until:
                continue
            if "label" in f and not flt.match_labels(labels, f["label"]):
                continue
            if "label!" in f and flt.match_labels(labels, f["label!"]):
                continue
            for ref in self.store.refs.references(image_id):
                self.store.refs.delete(ref)
                records.append({"Untagged": ref.familiar()})
                events.append(("untag", image_id))
            self._remove(image_id, True, records, events)
        reclaimed = sum(size for chain, size in sizes.items() if not self.store.layers.exists(chain))
        return records, reclaimed, events

    # -- save and load -----------------------------------------------------------
    async def save(self, names: list[str], out: BinaryIO) -> None:
        """``GET /images/get``: the archive of ``names`` written to ``out`` (in a thread).

        The layers are held under the lock and read after it: an ``rmi`` meanwhile
        removes nothing an unfinished save still reads, and a slow reader blocks nobody.
        A layer that does not rebuild to its diff ID fails the save before its first byte.
        """
        saver = await self._locked(lambda: imagearchive.Saver(self.store, self._selections(names)))
        try:
            await in_own_thread(saver.write, out)
        finally:
            await self._locked(saver.close)

    def _selections(self, names: list[str]) -> list[imagearchive.Selection]:
        """Docker's rules: a tag saves that tag, a bare repository all its tags, an ID no tag."""
        if not names:
            raise InvalidParameter("no image names given")
        chosen: dict[str, imagearchive.Selection] = {}

        def add(image_id: str, ref: Reference | None) -> None:
            sel = chosen.setdefault(image_id, imagearchive.Selection(image_id, []))
            if ref is not None and ref not in sel.refs:
                sel.refs.append(ref)

        for name in names:
            ref = None if reference.is_image_id(name) else _maybe_reference(name)
            if ref is not None and ref.tag is None and ref.digest is None and self.store.tagged(ref.name):
                for tagged, image_id in self.store.tagged(ref.name):
                    add(image_id, tagged)
                continue
            image_id = self.store.resolve(name)
            named = ref is not None and self.store.refs.get(reference.parse_tagged(name)) == image_id
            add(image_id, reference.parse_tagged(name) if named else None)
        return list(chosen.values())

    async def load(self, stream: BinaryIO) -> list[imagearchive.Loaded]:
        """``POST /images/load``: spool and unpack without the lock, register under it."""
        def do() -> list[imagearchive.Loaded]:
            with imagearchive.Loader(self.store) as loader:
                loader.read(stream)
                with self._lock:
                    return loader.commit(_now())
        loaded = await in_own_thread(do)
        for image in loaded:
            self._publish("load", image.image_id)
            for ref in image.refs:
                self._publish("tag", image.image_id, ref.familiar())
        return loaded

    # -- containers' layers: commit, export, changes -------------------------------
    async def commit(self, cid: str, image_id: str, container_config: dict[str, Any],
                     config: dict[str, Any] | None = None, repo: str = "", tag: str = "",
                     comment: str = "", author: str = "", changes: list[str] | None = None) -> str:
        """``POST /commit``: the container's writable layer as a new layer on its image.

        ``config`` (the request body) overrides the container's config field by
        field; ``changes`` are applied after, as Dockerfile instructions.
        """
        new_ref = _tag_reference(repo, tag) if repo else None
        merged = {**container_config, **{k: v for k, v in (config or {}).items() if v not in (None, "", [], {})}}
        new_config = image_changes.apply(merged, changes or [])
        diff = await asyncio.to_thread(self.store.snapshots.diff, cid)

        def register(parent: ImageRecord | None, layer: Layer | None) -> str:
            assert parent is not None
            created = _now()
            diff_ids = parent.diff_ids + ([layer.diff_id] if layer is not None else [])
            image_config = {
                **{k: v for k, v in parent.config.items() if k in ("architecture", "os", "variant")},
                "author": author, "comment": comment, "config": new_config, "container": cid,
                "container_config": container_config, "created": created, "docker_version": __version__,
                "history": parent.history + [{"created": created, "author": author or None,
                                              "created_by": " ".join(container_config.get("Cmd") or []),
                                              "comment": comment or None, "empty_layer": layer is None or None}],
                "rootfs": {"type": "layers", "diff_ids": diff_ids}}
            image_config["history"][-1] = {k: v for k, v in image_config["history"][-1].items() if v is not None}
            new_id = self.store.create(image_config, parent=image_id)
            if new_ref is not None:
                self.store.tag(new_id, new_ref, created)
            return new_id
        new_id = await self.commit_diff(image_id, diff, register)
        if new_ref is not None:
            self._publish("tag", new_id, new_ref.familiar())
        return new_id

    async def commit_diff(self, parent_id: str, diff: Diff | None,
                          register: Callable[[ImageRecord | None, Layer | None], str]) -> str:
        """``diff``'s changes as a layer on ``parent_id`` ("": none), then ``register``
        (under the service lock, given the parent's record and the layer, None when
        nothing changed) creates the image and returns its ID. The layer is unpacked
        outside the lock: a big commit blocks no other image call."""
        def do() -> str:
            pending = None
            if diff is not None and not diff.empty():
                with _piped(diff.write) as layer_tar:
                    pending = self.store.unpack_layer(layer_tar)
            try:
                with self._lock:
                    parent = self.store.record(parent_id) if parent_id else None
                    top = parent.chain_ids[-1] if parent and parent.chain_ids else None
                    return register(parent, self.store.commit_layer(pending, top) if pending else None)
            finally:
                if pending:
                    self.store.discard_layer(pending)
        return await asyncio.to_thread(do)

    async def export(self, cid: str, out: BinaryIO) -> None:
        """``GET /containers/{id}/export``: the merged filesystem as a tar, written to ``out``."""
        def do() -> None:
            with layerdiff.LayerTarWriter(out) as tar:
                tar.add_merged(self.store.snapshots.merged_dirs(cid))
        await in_own_thread(do)

    async def changes(self, cid: str) -> list[dict[str, Any]]:
        """``GET /containers/{id}/changes``: Docker's A/C/D list (kinds 1/0/2)."""
        def do() -> list[dict[str, Any]]:
            return [{"Path": path, "Kind": kind} for path, kind in self.store.snapshots.changes(cid)]
        return await asyncio.to_thread(do)

    async def check(self) -> dict[str, Any]:
        """``POST /wharf/images/check``: every image, reference and layer verified; the
        layers' tars are rebuilt without the lock (an ``rmi`` meanwhile waits for nothing)."""
        check = await self._locked(Check, self.store)
        try:
            await asyncio.to_thread(check.run)
        finally:
            await self._locked(self.store.release, check.chains)
        return {"Images": check.images, "Layers": check.layers, "Problems": check.problems}

    async def disk_usage(self, containers_per_image: dict[str, int]) -> dict[str, Any]:
        """The image half of ``GET /system/df``: every image with its shared size and users."""
        def build() -> dict[str, Any]:
            images = self._list(True, {})
            layers_size = self._share(images)
            for image in images:
                image["Containers"] = containers_per_image.get(image["Id"], 0)
            return {"LayersSize": layers_size, "Images": images}
        return await self._locked(build)

    def _share(self, images: list[dict[str, Any]]) -> int:
        """Set each listed image's ``SharedSize``: the bytes of its layers that another
        image uses too. Returns the size of every layer in the store."""
        chains = {i["Id"]: self.store.record(i["Id"]).chain_ids for i in images}
        users = Counter(chain for ids in chains.values() for chain in ids)
        sizes = {c: self.store.layers.get(c).size for c in self.store.layers.chains()}
        for image in images:
            image["SharedSize"] = sum(sizes.get(c, 0) for c in chains[image["Id"]] if users[c] > 1)
        return sum(sizes.values())

    # -- container rw layers -------------------------------------------------
    async def create_rw_layer(self, cid: str, image_id: str) -> None:
        await self._locked(self.store.create_rw, cid, image_id)

    async def mount_rw_layer(self, cid: str, target: str) -> None:
        await asyncio.to_thread(self.store.snapshots.mount, cid, target)

    async def unmount_rw_layer(self, cid: str, target: str) -> None:
        await asyncio.to_thread(self.store.snapshots.unmount, target)

    async def remove_rw_layer(self, cid: str, image_id: str | None = None) -> None:
        """Drop the rw layer, and any image layer only it still held: only when its image
        (``image_id``, if known) was force-removed, since the prune reads every image."""
        def do() -> None:
            self.store.snapshots.remove(cid)
            if image_id is None or not self.store.exists(image_id):
                self.store.prune_layers()
        await self._locked(do)

    async def rw_layer_ids(self) -> list[str]:
        """Every container ID with a rw layer (at start: those whose record is gone go)."""
        return await asyncio.to_thread(self.store.snapshots.ids)

    async def rw_layer_size(self, cid: str) -> int:
        return await asyncio.to_thread(self.store.snapshots.size, cid)


def _tag_reference(repo: str, tag: str) -> Reference:
    ref = reference.parse(repo)
    if ref.digest:
        raise InvalidParameter("refusing to create a tag with a digest reference")
    if tag:
        return ref.with_tag(tag)
    return reference.parse_tagged(repo)


def _maybe_reference(text: str) -> Reference | None:
    try:
        return reference.parse(text)
    except InvalidParameter:
        return None


@contextlib.contextmanager
def _piped(produce: Callable[[BinaryIO], None]) -> Iterator[BinaryIO]:
    """A reader of what ``produce`` writes, produced in a thread as it is read.

    The producer's error wins over the reader's: a tar cut short by a failed
    write is a symptom, the failed write the cause.
    """
    read_fd, write_fd = os.pipe()
    errors: list[BaseException] = []

    def run() -> None:
        try:
            with open(write_fd, "wb") as out:
                produce(out)
        except BrokenPipeError:
            pass  # the reader gave up; its own error says why
        except BaseException as e:
            errors.append(e)

    thread = threading.Thread(target=run, name="wharf-pipe", daemon=True)
    thread.start()
    reader = open(read_fd, "rb")
    try:
        yield reader
    except BaseException:
        reader.close()
        thread.join()
        if errors:
            raise errors[0] from None
        raise
    finally:
        reader.close()
        thread.join()
    if errors:
        raise errors[0]


def _single_reference(refs: list[Reference]) -> bool:
    """At most one tag, and every reference in one repository (Docker's isSingleReference)."""
    return bool(refs) and sum(1 for r in refs if r.tag) <= 1 and len({r.name for r in refs}) == 1


def _ref_matches(familiar: str, patterns: list[str]) -> bool:
    name = reference.parse(familiar).familiar_name
    return any(fnmatch.fnmatchcase(familiar, p) or fnmatch.fnmatchcase(name, p) for p in patterns)


def _inspect_json(record: ImageRecord, graph_driver: dict[str, Any]) -> dict[str, Any]:
    c = record.config
    return {
        "Id": record.id, "RepoTags": record.repo_tags, "RepoDigests": record.repo_digests,
        "Parent": record.parent, "Comment": c.get("comment", ""), "Created": record.created,
        "Container": c.get("container", ""), "ContainerConfig": c.get("container_config") or {},
        "DockerVersion": c.get("docker_version", ""), "Author": c.get("author", ""),
        "Config": record.container_config or None, "Architecture": c.get("architecture", ""),
        **({"Variant": c["variant"]} if c.get("variant") else {}),
        "Os": c.get("os", ""), "Size": record.size, "VirtualSize": record.size,
        "GraphDriver": graph_driver,
        "RootFS": {"Type": "layers", "Layers": record.diff_ids},
        "Metadata": {"LastTagTime": record.last_tag_time or ZERO_TIME},
    }
