"""Read-only layers, unpacked once and shared by every image and container.

Layout (like Docker's overlay2)::

    layers/<chain-hex>/diff/         the unpacked layer
    layers/<chain-hex>/layer.json    {"chain_id", "diff_id", "parent", "size", "link"}
    layers/l/<LINK>  ->  ../<chain-hex>/diff

A layer is keyed by its chain ID (the hash of its diff ID and everything
below it), so the same tar on top of a different parent is another layer.
The short ``l/<LINK>`` names keep overlay's ``lowerdir=`` option small
enough for many layers (the mount data is limited to one page).

A layer is unpacked into ``tmp/`` (``unpack``, slow, no lock needed) and
renamed into place with its metadata (``commit``, quick, under the caller's
lock): a crash leaves either the whole layer or scratch that the next start
removes.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import secrets
import shutil
import tempfile
from dataclasses import dataclass
from typing import BinaryIO, Callable

from wharf.image.archive import extract_layer
from wharf.image.content import digest_hex
from wharf.errors import NotFound

LINK_DIR = "l"


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
    def __init__(self, root: str) -> None:
        self.root = root
        self.links_dir = os.path.join(root, LINK_DIR)
        self.tmp_dir = os.path.join(root, "tmp")
        os.makedirs(self.links_dir, exist_ok=True)
        shutil.rmtree(self.tmp_dir, ignore_errors=True)
        os.makedirs(self.tmp_dir)
        for link in os.listdir(self.links_dir):  # dangling: the layer never landed
            if not os.path.exists(os.path.join(self.links_dir, link)):
                os.unlink(os.path.join(self.links_dir, link))

    def _dir(self, chain: str) -> str:
        return os.path.join(self.root, digest_hex(chain))

    def diff_dir(self, chain: str) -> str:
        return os.path.join(self._dir(chain), "diff")

    def exists(self, chain: str) -> bool:
        return os.path.exists(os.path.join(self._dir(chain), "layer.json"))

    def chains(self) -> list[str]:
        return ["sha256:" + name for name in os.listdir(self.root) if len(name) == 64]

    def get(self, chain: str) -> Layer:
        try:
            with open(os.path.join(self._dir(chain), "layer.json")) as f:
                return Layer(**json.load(f))
        except FileNotFoundError:
            raise NotFound(f"layer does not exist: {chain}") from None

    def unpack(self, stream: BinaryIO, tee: Callable[[bytes], object] | None = None) -> Unpacked:
        """Extract a layer tar into scratch: the slow part, needing no lock."""
        scratch = tempfile.mkdtemp(dir=self.tmp_dir)
        try:
            os.mkdir(os.path.join(scratch, "diff"), 0o755)
            result = extract_layer(stream, os.path.join(scratch, "diff"), tee)
        except BaseException:
            shutil.rmtree(scratch, ignore_errors=True)
            raise
        return Unpacked(scratch, result.diff_id, result.size)

    def commit(self, unpacked: Unpacked, parent: str | None) -> Layer:
        """Move an unpacked layer into place on top of ``parent``; an identical layer is reused."""
        link_path = ""
        try:
            chain = chain_id(parent, unpacked.diff_id)
            if self.exists(chain):
                return self.get(chain)
            link = base64.b32encode(secrets.token_bytes(16)).decode().rstrip("=")
            layer = Layer(chain, unpacked.diff_id, parent, unpacked.size, link)
            with open(os.path.join(unpacked.scratch, "layer.json"), "w") as f:
                json.dump(layer.to_json(), f)
                f.flush()
                os.fsync(f.fileno())
            link_path = os.path.join(self.links_dir, link)
            os.symlink(os.path.join("..", digest_hex(chain), "diff"), link_path)
            os.rename(unpacked.scratch, self._dir(chain))
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
        """Delete one layer (the caller knows nothing uses it any more)."""
        layer = self.get(chain)
        doomed = tempfile.mkdtemp(dir=self.tmp_dir)
        os.rename(self._dir(chain), os.path.join(doomed, "layer"))
        try:
            os.unlink(os.path.join(self.links_dir, layer.link))
        except FileNotFoundError:
            pass
        shutil.rmtree(doomed, ignore_errors=True)
