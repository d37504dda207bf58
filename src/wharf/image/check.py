"""``wharf image check``: verify the whole image store on demand.

What Docker verifies piecemeal (a config against its image ID when it loads
it, a layer's tar against its diff ID when it saves or pushes it), checked for
everything at once: every image record (its config is there, hashes to its
ID, is an image config, names layers that are here), every reference (names
an image that is here), every layer (its metadata, its chain ID from its
parent and diff ID, its parent, its ``l/`` link) and every layer's content:
its tar rebuilt and hashed against its diff ID.

``Check(store)`` does the quick part and holds the layers (under the caller's
lock); ``run`` rebuilds the tars (long, without the lock); the caller then
releases ``chains``.
"""

from __future__ import annotations

import os

from wharf.errors import WharfError
from wharf.image.layers import LINK_DIR, chain_id
from wharf.image.store import ImageStore
from wharf.image.tarsplit import LayerTar


class Check:
    def __init__(self, store: ImageStore) -> None:
        self.problems: list[str] = []
        self.images = 0
        self._tars: list[tuple[str, LayerTar]] = []
        for image_id in sorted(store.broken) + store.ids():
            self.images += 1
            problem = store.problem(image_id)
            if problem:
                self.problems.append(f"image {image_id}: {problem}")
        for ref, image_id in store.refs.entries():
            if not os.path.exists(os.path.join(store.imagedb, image_id.removeprefix("sha256:") + ".json")):
                self.problems.append(f"reference {ref.familiar()}: names image {image_id}, which is not here")
        for chain in sorted(store.layers.chains()):
            problem = self._layer(store, chain)
            if problem:
                self.problems.append(f"layer {chain}: {problem}")
        self.chains = [chain for chain, _ in self._tars]
        store.hold(self.chains)

    @property
    def layers(self) -> int:
        return len(self._tars)

    def _layer(self, store: ImageStore, chain: str) -> str | None:
        layer = store.layers.find(chain)
        if layer is None:
            return "its layer.json is missing or unreadable"
        if layer.chain_id != chain or chain_id(layer.parent, layer.diff_id) != chain:
            return f"its chain ID does not follow from its parent {layer.parent} and diff ID {layer.diff_id}"
        if layer.parent is not None and not store.layers.exists(layer.parent):
            return f"its parent layer {layer.parent} is missing"
        link = os.path.join(store.layers.root, LINK_DIR, layer.link)
        target = os.path.join("..", chain.removeprefix("sha256:"), "diff")
        if not os.path.islink(link) or os.readlink(link) != target:
            return f"its link {LINK_DIR}/{layer.link} does not point at its diff directory"
        try:
            self._tars.append((chain, store.layer_tar(chain)))
        except WharfError as e:
            return str(e)
        return None

    def run(self) -> None:
        """Rebuild every layer's tar and hash it against its diff ID (no lock needed: held)."""
        for chain, tar in self._tars:
            try:
                tar.verify()
            except WharfError as e:
                self.problems.append(f"layer {chain}: {e}")
            except OSError as e:
                self.problems.append(f"layer {chain}: {e.strerror or e}")
