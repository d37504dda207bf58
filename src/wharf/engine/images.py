"""ImageService: the engine's view of the image store (``wharf.image``).

It adds what the store does not know about: Docker's rules for removing
images that containers use, the JSON shapes of ``images/json`` and
``images/{name}/json``, events, and threads. Every public method is a
coroutine; the blocking work runs in ``asyncio.to_thread`` under one lock
(image changes are rare and short; an import unpacks its layer before it
takes the lock, so a slow upload blocks nobody). Mounting and sizing rw layers take no lock: a container start never
waits for an import.
"""

from __future__ import annotations

import asyncio
import fnmatch
import platform
import threading
import time
from typing import Any, BinaryIO, Callable, NamedTuple, TypeVar

from wharf import __version__
from wharf.config import DaemonConfig
from wharf.engine import filters as flt
from wharf.engine.events import EventBus
from wharf.engine.timefmt import ZERO_TIME, parse_rfc3339, rfc3339nano
from wharf.errors import Conflict, InvalidParameter, NotFound
from wharf.image import changes as image_changes
from wharf.image import reference
from wharf.image.layers import Layer
from wharf.image.reference import Reference
from wharf.image.store import ImageRecord, ImageStore

__all__ = ["ContainerUse", "ImageRecord", "ImageService"]

LIST_FILTERS = ("before", "dangling", "label", "reference", "since")
_GOARCH = {"x86_64": "amd64", "aarch64": "arm64", "armv7l": "arm", "i686": "386", "ppc64le": "ppc64le",
           "s390x": "s390x", "riscv64": "riscv64"}
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
        self.store = ImageStore(config.image_dir)
        self.events = events
        self._lock = threading.Lock()

    async def _locked(self, fn: Callable[..., T], *args: Any) -> T:
        def call() -> T:
            with self._lock:
                return fn(*args)
        return await asyncio.to_thread(call)

    def _publish(self, action: str, image_id: str, name: str | None = None) -> None:
        self.events.publish("image", action, image_id, {"name": name or image_id})

    # -- lookups -----------------------------------------------------------
    async def get(self, ref_or_id: str) -> ImageRecord:
        """By full ID, unique ID prefix or reference; ``NotFound("No such image: x:latest")``."""
        return await self._locked(lambda: self.store.record(self.store.resolve(ref_or_id)))

    async def count(self) -> int:
        return len(await asyncio.to_thread(self.store.ids))

    async def inspect(self, ref_or_id: str) -> dict[str, Any]:
        """``GET /images/{name}/json``."""
        def build() -> dict[str, Any]:
            record = self.store.record(self.store.resolve(ref_or_id))
            return _inspect_json(record, self.store.graph_driver(record.id))
        return await self._locked(build)

    async def list(self, all: bool = False, filters: flt.Filters | None = None) -> list[dict[str, Any]]:
        """``GET /images/json``, newest first (RepoDigests are always filled in)."""
        return await self._locked(self._list, all, filters or {})

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
            record = self.store.record(image_id)
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
        image_id = self.store.resolve(text)
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
            parent = self.store.record(image_id).parent
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
                "architecture": _GOARCH.get(platform.machine(), platform.machine()),
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
        image_id = await asyncio.to_thread(do)
        self._publish("import", image_id)
        if new_ref is not None:
            self._publish("tag", image_id, new_ref.familiar())
        return image_id

    # -- container rw layers -------------------------------------------------
    async def create_rw_layer(self, cid: str, image_id: str) -> None:
        await self._locked(self.store.create_rw, cid, image_id)

    async def mount_rw_layer(self, cid: str, target: str) -> None:
        await asyncio.to_thread(self.store.snapshots.mount, cid, target)

    async def unmount_rw_layer(self, cid: str, target: str) -> None:
        await asyncio.to_thread(self.store.snapshots.unmount, target)

    async def remove_rw_layer(self, cid: str) -> None:
        """Drop the rw layer, and any image layer only it still held (its image was force-removed)."""
        def do() -> None:
            self.store.snapshots.remove(cid)
            self.store.prune_layers()
        await self._locked(do)

    async def rw_layer_size(self, cid: str) -> int:
        return await asyncio.to_thread(self.store.snapshots.size, cid)


def _tag_reference(repo: str, tag: str) -> Reference:
    ref = reference.parse(repo)
    if ref.digest:
        raise InvalidParameter("refusing to create a tag with a digest reference")
    if tag:
        return ref.with_tag(tag)
    return reference.parse_tagged(repo)


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
