"""Read-only layers, unpacked once and shared by every image and container.

Layout (like Docker's overlay2)::

    layers/<chain-hex>/diff/         the unpacked layer
    layers/<chain-hex>/layer.json    {"chain_id", "diff_id", "parent", "size", "link"}
    layers/<chain-hex>/tar-split.gz  how to rebuild the layer's tar from diff/ (``tarsplit``)
    layers/l/<LINK>  ->  ../<chain-hex>/diff

A layer is keyed by its chain ID (the hash of its diff ID and everything
below it), so the same tar on top of a different parent is another layer.
The short ``l/<LINK>`` names keep overlay's ``lowerdir=`` option small
enough for many layers (the mount data is limited to one page).

A layer is unpacked into ``tmp/`` (``unpack``, slow, no lock needed) and
renamed into place with its metadata (``commit``, under the caller's lock:
quick, but for a driver that keeps each layer as a whole tree, which copies the
parent's there): a crash leaves either the whole layer or scratch that the next start
removes. The tar itself is not kept: its tar-split is recorded as it is
unpacked (a tar that cannot be split is the image store's to keep as a blob).
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import os
import secrets
import shutil
import tempfile
from dataclasses import dataclass
from typing import BinaryIO, Callable

from wharf.image import tarsplit
from wharf.image.archive import extract_layer
from wharf.image.content import digest_hex
from wharf.errors import NotFound
from wharf.fsutil import empty_dir, remove_tree

LINK_DIR = "l"
log = logging.getLogger("wharf.image")


@dataclass(frozen=True)
class Layer:
    chain_id: str
    diff_id: str
    parent: str | None  # chain ID of the layer below
    size: int
    link: str  # name under layers/l/

    def to_json(self) -> dict[str, object]:
        return {"chain_id": self.chain_id, "diff_id": self.diff_id, "parent": self.parent,
                "size": self.size, "link": self.link}


@dataclass(frozen=True)
class Unpacked:
    """A layer extracted into scratch, not yet in the store."""

    scratch: str
    diff_id: str
    size: int
    split: bool  # its tar-split was recorded (else the tar must be kept)


def chain_id(parent: str | None, diff_id: str) -> str:
    """ChainID(L0) = DiffID(L0); ChainID(Ln) = sha256(ChainID(Ln-1) + " " + DiffID(Ln))."""
    if parent is None:
        return diff_id
    return "sha256:" + hashlib.sha256(f"{parent} {diff_id}".encode()).hexdigest()


def chain_ids(diff_ids: list[str]) -> list[str]:
    """Chain IDs of a stack of diff IDs, bottom first."""
    out: list[str] = []
    for diff_id in diff_ids:
        out.append(chain_id(out[-1] if out else None, diff_id))
    return out


class LayerStore:
    def __init__(self, root: str, stack: Callable[[str, str | None], None] | None = None) -> None:
        """``stack``: the storage driver's making of an unpacked ``diff/`` into what it
        keeps, given the parent's (vfs: the whole tree), whiteouts left to it as the
        tar's ``.wh.`` files; None keeps it as unpacked, whiteouts as overlayfs marks."""
        self.root = root
        self.stack = stack
        self.links_dir = os.path.join(root, LINK_DIR)
        self.tmp_dir = os.path.join(root, "tmp")
        #: bumped after a layer came or went (or gained its tar-split): what ``disk_usage``
        #: walked is still true while it holds
        self._generation = 0
        self._usage: tuple[int, tuple[int, int]] | None = None
        os.makedirs(self.links_dir, exist_ok=True)
        empty_dir(self.tmp_dir)  # kept, not re-made: a start on a full disk needs no block
        for link in os.listdir(self.links_dir):  # dangling: the layer never landed
            if not os.path.exists(os.path.join(self.links_dir, link)):
                os.unlink(os.path.join(self.links_dir, link))

    def _dir(self, chain: str) -> str:
        return os.path.join(self.root, digest_hex(chain))

    def diff_dir(self, chain: str) -> str:
        return os.path.join(self._dir(chain), "diff")

    def split_path(self, chain: str) -> str:
        return os.path.join(self._dir(chain), tarsplit.FILENAME)

    def has_split(self, chain: str) -> bool:
        return os.path.exists(self.split_path(chain))

    def exists(self, chain: str) -> bool:
        """Whether the layer is here and its metadata readable."""
        return self.find(chain) is not None

    def chains(self) -> list[str]:
        return ["sha256:" + name for name in os.listdir(self.root) if len(name) == 64]

    def get(self, chain: str) -> Layer:
        layer = self.find(chain)
        if layer is None:
            raise NotFound(f"layer does not exist: {chain}")
        return layer

    def find(self, chain: str) -> Layer | None:
        """The layer, or None when it is not here or its ``layer.json`` is unreadable."""
        try:
            with open(os.path.join(self._dir(chain), "layer.json")) as f:
                return Layer(**json.load(f))
        except FileNotFoundError:
            return None
        except (ValueError, TypeError) as e:
            log.error("layer %s: layer.json is unreadable: %s", chain, e)
            return None

    def unpack(self, stream: BinaryIO, spill: tarsplit.Spill | None = None) -> Unpacked:
        """Extract a layer tar into scratch, recording its tar-split: the slow part,
        needing no lock. A tar that cannot be split goes whole to ``spill`` (if given:
        the caller may have the tar already)."""
        scratch = tempfile.mkdtemp(dir=self.tmp_dir)
        split_path = os.path.join(scratch, tarsplit.FILENAME)
        diff = os.path.join(scratch, "diff")
        try:
            os.mkdir(diff, 0o755)
            with open(split_path, "w+b") as split:
                recorder = tarsplit.Recorder(split, spill, diff)
                result = extract_layer(stream, diff, recorder.feed, recorder.member,
                                       overlay_marks=self.stack is None)
                recorder.finish()
                split.flush()
                os.fsync(split.fileno())
            if not recorder.splittable:
                os.unlink(split_path)
        except BaseException:
            shutil.rmtree(scratch, ignore_errors=True)
            raise
        return Unpacked(scratch, result.diff_id, result.size, recorder.splittable)

    def record_split(self, chain: str, tar: BinaryIO) -> bool:
        """Record the tar-split of a layer from its tar (a store made before tar-split kept
        the tar as a blob); True when it was recorded and rebuilds the tar exactly."""
        layer = self.get(chain)
        tmp = self.split_path(chain) + ".tmp"
        try:
            with open(tmp, "wb") as split:
                splittable = tarsplit.record(tar, split)
                split.flush()
                os.fsync(split.fileno())
            if not splittable:
                return False
            try:
                tarsplit.LayerTar(layer.diff_id, self.diff_dir(chain), tmp, None).verify()
            except tarsplit.LayerCorrupt:
                return False
            os.rename(tmp, self.split_path(chain))
            self._generation += 1
            return True
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)

    def tar(self, chain: str, blob: str | None) -> tarsplit.LayerTar:
        """The layer's tar: rebuilt from its tar-split, else read from ``blob`` (its kept tar)."""
        layer = self.get(chain)
        split = self.split_path(chain) if self.has_split(chain) else None
        if split is None and (blob is None or not os.path.exists(blob)):
            raise NotFound(f"the content of layer {layer.diff_id} is not in the store: "
                           "neither its tar-split nor its tar is here")
        return tarsplit.LayerTar(layer.diff_id, self.diff_dir(chain), split, None if split else blob)

    def commit(self, unpacked: Unpacked, parent: str | None) -> Layer:
        """Move an unpacked layer into place on top of ``parent``; an identical layer is reused."""
        link_path = ""
        try:
            chain = chain_id(parent, unpacked.diff_id)
            if self.exists(chain):
                return self.get(chain)
            if self.stack is not None:
                self.stack(os.path.join(unpacked.scratch, "diff"), self.diff_dir(parent) if parent else None)
            link = base64.b32encode(secrets.token_bytes(16)).decode().rstrip("=")
            layer = Layer(chain, unpacked.diff_id, parent, unpacked.size, link)
            with open(os.path.join(unpacked.scratch, "layer.json"), "w") as f:
                json.dump(layer.to_json(), f)
                f.flush()
                os.fsync(f.fileno())
            link_path = os.path.join(self.links_dir, link)
            os.symlink(os.path.join("..", digest_hex(chain), "diff"), link_path)
            os.rename(unpacked.scratch, self._dir(chain))
            self._generation += 1
            return layer
        except BaseException:
            if link_path:
                os.unlink(link_path)
            raise
        finally:
            self.discard(unpacked)

    @staticmethod
    def discard(unpacked: Unpacked) -> None:
        shutil.rmtree(unpacked.scratch, ignore_errors=True)

    def lower_links(self, chain: str) -> list[str]:
        """``l/<LINK>`` of ``chain`` and every layer below it, top first (overlay order)."""
        links: list[str] = []
        current: str | None = chain
        while current is not None:
            layer = self.get(current)
            links.append(f"{LINK_DIR}/{layer.link}")
            current = layer.parent
        return links

    def remove(self, chain: str) -> None:
        """Delete one layer (the caller knows nothing uses it any more); the link of one
        whose metadata is unreadable goes at the next start, as a dangling one."""
        layer = self.find(chain)
        try:
            if layer is not None:
                os.unlink(os.path.join(self.links_dir, layer.link))
        except FileNotFoundError:
            pass
        remove_tree(self._dir(chain), self.tmp_dir)  # needs no free space (rmi on a full disk)
        self._generation += 1

    def disk_usage(self) -> tuple[int, int]:
        """Bytes (allocated blocks) and inodes the layers take, each inode once; layers
        being unpacked not counted. The kubelet asks every 10 s (the CRI's ImageFsInfo):
        the layers are walked again only after one came or went."""
        generation = self._generation  # read before the walk: a change during it walks again
        if self._usage is not None and self._usage[0] == generation:
            return self._usage[1]
        seen: set[int] = set()
        used = 0
        for top, dirs, files in os.walk(self.root):
            if top == self.root:
                dirs[:] = [d for d in dirs if os.path.join(top, d) != self.tmp_dir]
            for name in dirs + files:
                try:
                    st = os.lstat(os.path.join(top, name))
                except FileNotFoundError:  # a layer removed meanwhile
                    continue
                if st.st_ino not in seen:
                    seen.add(st.st_ino)
                    used += st.st_blocks * 512
        self._usage = (generation, (used, len(seen)))
        return used, len(seen)
