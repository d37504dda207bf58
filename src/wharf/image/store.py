"""The image store: content, layers, tags, image records and rw layers under one root.

Layout of ``{data_root}/image``::

    content/sha256/<hex>     blobs: image configs (and the tar of a layer that could not be split)
    imagedb/<hex>.json       {"parent", "last_tag_time"}: marks <hex> as an image
    repositories.json        the tag store (``refstore``)
    layers/                  read-only layers by chain ID (``layers``)
    driver                   the storage driver that keeps the layers (``drivers``)
    rw/<container id>/       writable layers (``overlay``, ``vfs``)

An image's ID is ``sha256:`` + the hash of its config JSON, the config being
kept byte for byte in the content store. Every method here is blocking and
expects its caller to serialise changes (``ImageService`` holds one lock and
runs these in a thread).

A layer's tar is not kept: it is rebuilt from its tar-split (``layer_tar``),
and a store made before tar-split is migrated at start. An image whose record
cannot be read (config missing, not JSON, not its ID's hash, a layer gone) is
logged at start and left out, as Docker does: ``ids`` and ``resolve`` do not
see it, ``rmi`` by its ID removes it (``broken``, ``delete_broken``).
"""

from __future__ import annotations

import json
import logging
import os
import re
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, BinaryIO, Callable, Iterable

from wharf.errors import InvalidParameter, NotFound, WharfError
from wharf.image import reference
from wharf.image.content import ContentStore, Writer, digest_hex, sha256_digest
from wharf.image.layers import Layer, LayerStore, Unpacked, chain_ids
from wharf.image.tarsplit import LayerTar
from wharf.image import drivers
from wharf.image.reference import Reference
from wharf.image.refstore import ReferenceStore, write_json_atomic

_HEX_PREFIX_RE = re.compile(r"^(?:sha256:)?([a-f0-9]{1,64})$")
log = logging.getLogger("wharf.image")


class BrokenImage(WharfError):
    """An image record that cannot be read (its config unreadable, a layer gone)."""


@dataclass
class ImageRecord:
    """What the engine needs of an image; ``config`` is the whole image config
    (``config["config"]`` holds Cmd, Entrypoint, Env, WorkingDir, User, ...)."""

    id: str
    config: dict[str, Any]
    repo_tags: list[str] = field(default_factory=list)
    repo_digests: list[str] = field(default_factory=list)
    parent: str = ""
    size: int = 0
    last_tag_time: str = ""

    @property
    def created(self) -> str:
        return self.config.get("created") or ""

    @property
    def diff_ids(self) -> list[str]:
        return list((self.config.get("rootfs") or {}).get("diff_ids") or [])

    @property
    def history(self) -> list[dict[str, Any]]:
        return list(self.config.get("history") or [])

    @property
    def chain_ids(self) -> list[str]:
        return chain_ids(self.diff_ids)

    @property
    def container_config(self) -> dict[str, Any]:
        return self.config.get("config") or {}


class ImageStore:
    def __init__(self, root: str, driver: str = drivers.DEFAULT) -> None:
        """``driver``: the one ``drivers.choose`` settled for this root."""
        self.root = root
        self.imagedb = os.path.join(root, "imagedb")
        os.makedirs(self.imagedb, exist_ok=True)
        self.content = ContentStore(os.path.join(root, "content"))
        snapshotter = drivers.DRIVERS[driver]
        self.layers = LayerStore(os.path.join(root, "layers"), snapshotter.stack_layer)
        self.snapshots = snapshotter(os.path.join(root, "rw"), self.layers)
        self.refs = ReferenceStore(os.path.join(root, "repositories.json"))
        self._held: Counter[str] = Counter()  # chain -> readers (save, push, check) of its files
        self.broken: dict[str, str] = {}  # image ID -> what is wrong with it
        for image_id in self._all_ids():
            problem = self.problem(image_id)
            if problem:
                log.error("invalid image %s, not restoring it: %s", image_id, problem)
                self.broken[image_id] = problem
        self.gc()

    def gc(self) -> None:
        """Remove what a crash left half-made (a ``load`` or ``commit`` cut short after its
        layers landed, an ``rmi`` cut short before its layers went): layers that no image and
        no rw layer stands on, and blobs that are neither an image config nor a kept layer
        tar. The tars a store made before tar-split kept are replaced by tar-splits."""
        self.prune_layers()
        migrated = 0
        keep = set(self._all_ids())
        for chain in self.layers.chains():
            try:
                diff_id = self.layers.get(chain).diff_id
            except NotFound as e:
                log.error("image store: %s", e)
                continue
            if not self.layers.has_split(chain) and self.content.exists(diff_id):
                with open(self.content.path(diff_id), "rb") as tar:
                    migrated += self.layers.record_split(chain, tar)
            if not self.layers.has_split(chain):
                keep.add(diff_id)
        if migrated:
            log.info("image store: %d layer tars replaced by their tar-split", migrated)
        for digest in self.content.digests():
            if digest not in keep:
                self.content.delete(digest)

    # -- images ------------------------------------------------------------
    def _meta_path(self, image_id: str) -> str:
        return os.path.join(self.imagedb, digest_hex(image_id) + ".json")

    def _all_ids(self) -> list[str]:
        return ["sha256:" + name[:-5] for name in os.listdir(self.imagedb)
                if name.endswith(".json") and len(name) == 69]

    def ids(self) -> list[str]:
        """Every image but the broken ones."""
        return [i for i in self._all_ids() if i not in self.broken]

    def exists(self, image_id: str) -> bool:
        return image_id not in self.broken and os.path.exists(self._meta_path(image_id))

    def problem(self, image_id: str) -> str | None:
        """What makes an image unusable (Docker's checks at restore), or None."""
        try:
            self._meta(image_id)
            config = self.content.get(image_id)
        except (OSError, ValueError, WharfError) as e:
            return str(e)
        if sha256_digest(config) != image_id:
            return f"its config does not match its ID (its content is {sha256_digest(config)})"
        try:
            chains = chain_ids(_diff_ids(json.loads(config)))
        except (ValueError, WharfError) as e:
            return f"its config is not a valid image config: {e}"
        for chain in chains:
            if not self.layers.exists(chain):
                return f"layer does not exist: {chain}"
        return None

    def create(self, config: dict[str, Any], parent: str = "") -> str:
        """Store a config whose layers are registered; returns the image ID."""
        return self.create_raw(json.dumps(config, separators=(",", ":")).encode(), parent)

    def create_raw(self, config: bytes, parent: str = "") -> str:
        """Store config bytes as they are (a loaded image keeps the ID it had elsewhere)."""
        for chain in chain_ids(json.loads(config)["rootfs"]["diff_ids"]):
            self.layers.get(chain)  # NotFound if a layer is missing
        image_id = self.content.put(config)  # rewrites a broken copy
        if self.broken.pop(image_id, None) is not None or not self.exists(image_id):
            write_json_atomic(self._meta_path(image_id), {"parent": parent, "last_tag_time": ""})
        return image_id

    def _meta(self, image_id: str) -> dict[str, str]:
        try:
            with open(self._meta_path(image_id)) as f:
                meta = json.load(f)
        except FileNotFoundError:
            raise NotFound(f"No such image: {image_id}") from None
        except ValueError as e:
            raise BrokenImage(f"image {image_id}: its metadata is not JSON: {e}") from None
        if not isinstance(meta, dict):
            raise BrokenImage(f"image {image_id}: its metadata is not a JSON object")
        return meta

    def record(self, image_id: str) -> ImageRecord:
        """The image's record; one found broken now is logged and left out from then on
        (BrokenImage), as if found at start."""
        try:
            meta = self._meta(image_id)
            config = json.loads(self.content.get(image_id))
            _diff_ids(config)
        except (ValueError, WharfError) as e:
            if not os.path.exists(self._meta_path(image_id)):
                raise  # not broken: gone
            log.error("invalid image %s, leaving it out: %s", image_id, e)
            self.broken[image_id] = str(e)
            raise BrokenImage(f"image {image_id} is broken: {e}") from None
        refs = self.refs.references(image_id)
        record = ImageRecord(
            id=image_id, config=config, parent=meta.get("parent", ""),
            last_tag_time=meta.get("last_tag_time", ""),
            repo_tags=[r.familiar() for r in refs if r.tag],
            repo_digests=[r.familiar() for r in refs if r.digest])
        record.size = sum(self.layers.get(c).size for c in record.chain_ids)
        return record

    def resolve(self, text: str, broken: bool = False) -> str:
        """The image ID named by a reference, a full ID, or a unique ID prefix (with
        ``broken``, also a broken image's full ID or ID prefix: only removal wants it)."""
        if reference.is_image_id(text):
            image_id = text if text.startswith("sha256:") else "sha256:" + text
            if self.exists(image_id) or (broken and image_id in self.broken):
                return image_id
            raise NotFound(f"No such image: {text}")
        try:
            ref: Reference | None = reference.parse_tagged(text)
        except InvalidParameter:
            ref = None
        if ref is not None:
            image_id = self.refs.get(ref)
            if image_id and self.exists(image_id):
                return image_id
        match = _HEX_PREFIX_RE.match(text)
        if match:
            found = [i for i in (self._all_ids() if broken else self.ids())
                     if digest_hex(i).startswith(match.group(1))]
            if len(found) == 1:
                return found[0]
        if ref is None:
            reference.parse(text)  # raises Docker's "invalid reference format" message
        raise NotFound(f"No such image: {ref.familiar() if ref else text}")

    def tagged(self, name: str) -> list[tuple[Reference, str]]:
        """(reference, image ID) of every tag in repository ``name`` (fully qualified)."""
        return [(r, i) for r, i in self.refs.entries() if r.name == name and r.tag]

    def children(self, image_id: str) -> list[str]:
        return [i for i in self.ids() if self._meta(i).get("parent") == image_id]

    def tag(self, image_id: str, ref: Reference, when: str) -> str | None:
        """Point ``ref`` at the image; returns the image it named before (if another)."""
        previous = self.refs.add(ref, image_id)
        meta = self._meta(image_id)
        meta["last_tag_time"] = when
        write_json_atomic(self._meta_path(image_id), meta)
        return previous

    def delete(self, image_id: str) -> list[str]:
        """Remove the image record (a broken one too) and every layer nothing else uses;
        returns their chain IDs."""
        chains = self._known_chains(image_id) or []
        os.unlink(self._meta_path(image_id))
        self.content.delete(image_id)
        self.broken.pop(image_id, None)
        pruned = self.prune_layers()
        return [c for c in reversed(chains) if c in pruned]

    def parent(self, image_id: str) -> str:
        """The image this one was made from ("" if none or unreadable)."""
        try:
            return str(self._meta(image_id).get("parent") or "")
        except BrokenImage:
            return ""

    def prune_layers(self) -> set[str]:
        """Remove layers no image, no rw layer and no reader stands on (and kept tars).

        Nothing is pruned while a broken image's layers are unknown: they may be its."""
        unknown = [i for i in self.broken if not self._known_chains(i)]
        if unknown:
            log.warning("not pruning layers: the layers of broken image %s are unknown", unknown[0])
            return set()
        used = self._used_chains() | set(self._held)
        pruned = {c for c in self.layers.chains() if c not in used}
        diff_ids = {layer.diff_id for c in pruned if (layer := self.layers.find(c))}
        for chain in pruned:
            self.layers.remove(chain)
        for diff_id in diff_ids - {layer.diff_id for c in used if (layer := self.layers.find(c))}:
            self.content.delete(diff_id)
        return pruned

    def _used_chains(self) -> set[str]:
        used: set[str] = set()
        for image_id in self._all_ids():
            used.update(self._known_chains(image_id) or ())
        for cid in self.snapshots.ids():
            chain: str | None = self.snapshots.meta(cid).get("chain_id")
            while chain and chain not in used and self.layers.exists(chain):
                used.add(chain)
                chain = self.layers.get(chain).parent
        return used

    def _known_chains(self, image_id: str) -> list[str] | None:
        """An image's chain IDs, None when its config cannot say."""
        try:
            return chain_ids(_diff_ids(json.loads(self.content.get(image_id))))
        except (ValueError, WharfError):
            return None

    # -- layers ------------------------------------------------------------
    def layer_tar(self, chain: str) -> LayerTar:
        """The tar of a layer (rebuilt from its tar-split), verified as it is read."""
        diff_id = self.layers.get(chain).diff_id
        return self.layers.tar(chain, self.content.path(diff_id) if self.content.exists(diff_id) else None)

    def hold(self, chains: Iterable[str]) -> None:
        """Keep layers from being pruned while their files are read outside the lock."""
        self._held.update(chains)

    def release(self, chains: Iterable[str]) -> None:
        """The reads ``hold`` announced are over; prune what an ``rmi`` meanwhile left."""
        chains = list(chains)
        self._held.subtract(chains)
        self._held = +self._held  # drops the zeros
        if {c for c in chains if self.layers.exists(c)} - self._used_chains() - set(self._held):
            self.prune_layers()

    def unpack_layer(self, stream: BinaryIO) -> tuple[Unpacked, Writer | None]:
        """Extract a layer tar, recording its tar-split; a tar that cannot be split is
        written to a blob-to-be as well (the only tar ever kept).

        Slow and lock-free; ``commit_layer`` (under the lock) or ``discard_layer`` must follow.
        """
        blobs: list[Writer] = []

        def spill() -> Callable[[bytes], object]:
            blobs.append(self.content.writer())
            return blobs[0].write
        try:
            return self.layers.unpack(stream, spill), (blobs[0] if blobs else None)
        except BaseException:
            for blob in blobs:
                blob.abort()
            raise

    def commit_layer(self, pending: tuple[Unpacked, Writer | None], parent: str | None = None) -> Layer:
        """Move an unpacked layer into place; its tar becomes a blob only if it cannot be split
        (``blob``: the spilled tar, or a ``load``'s spooled copy)."""
        unpacked, blob = pending
        if blob is not None:
            with blob:
                if not unpacked.split and not self.content.exists(unpacked.diff_id):
                    blob.commit(unpacked.diff_id)
        return self.layers.commit(unpacked, parent)

    def discard_layer(self, pending: tuple[Unpacked, Writer | None]) -> None:
        if pending[1] is not None:
            pending[1].abort()
        self.layers.discard(pending[0])

    def register_layer(self, stream: BinaryIO, parent: str | None = None) -> Layer:
        """Unpack and commit in one go (the caller holds the lock throughout)."""
        return self.commit_layer(self.unpack_layer(stream), parent)

    # -- container rw layers -------------------------------------------------
    def create_rw(self, cid: str, image_id: str) -> None:
        chains = self.record(image_id).chain_ids
        if not chains:
            raise WharfError(f"image {image_id} has no layers to mount")
        self.snapshots.create(cid, chains[-1], {"image_id": image_id, "chain_id": chains[-1]})

    def graph_driver(self, image_id: str) -> dict[str, Any]:
        """Docker's ``GraphDriver`` block of ``image inspect``."""
        return self.snapshots.graph_driver(self.record(image_id).chain_ids)


def _diff_ids(doc: Any) -> list[str]:
    """A parsed image config's ``rootfs.diff_ids``; ValueError if it is not an image config."""
    rootfs = doc.get("rootfs") if isinstance(doc, dict) else None
    diff_ids = rootfs.get("diff_ids") if isinstance(rootfs, dict) else None
    if not isinstance(diff_ids, list):
        raise ValueError("rootfs.diff_ids is missing")
    for d in diff_ids:
        digest_hex(str(d))
    return diff_ids
