"""What every storage driver's snapshotter shares: the bookkeeping of containers'
writable layers, and the interface the rest of the engine sees.

Layout (the driver adds its own files to each layer)::

    rw/<cid>/meta.json   {"image_id", "chain_id"} and what the driver records
    rw/.tmp/             scratch

Scratch lives in ``rw/.tmp``, emptied (never re-made) at every start: a layer
being made is assembled there, and a removed one is renamed there before it is
deleted, so a removal needs no free space and a crash mid-way is finished by
the next start. A layer directory without ``meta.json`` is one an in-place
delete left half done; the start removes it too.

The engine knows a driver only through ``Snapshotter`` (mount a container's
tree, read its changes back, make the layer tar of them) and ``Diff`` (the
changes of one tree, as a commit or a build step turns them into a layer), so
it never learns whether overlayfs or plain copies hold the files.
"""

from __future__ import annotations

import abc
import json
import os
import shutil
import tempfile
from typing import Any, BinaryIO, Callable, ClassVar, Protocol

from wharf.errors import NotFound, WharfError
from wharf.fsutil import empty_dir, remove_tree
from wharf.image.layers import LayerStore
from wharf.linux.syscalls import spread_subdirs


class Diff(Protocol):
    """A writable tree's changes against the layers below it, read when asked (after
    the writes): a commit or a build step turns them into a layer."""

    #: where the writes landed (a build step drops its mount stubs from it)
    top: str

    def empty(self) -> bool:
        """Nothing changed: no layer to make."""

    def write(self, out: BinaryIO) -> None:
        """The changes as a layer tar (``.wh.`` entries for deletions)."""

    def needed(self, rel: str) -> bool:
        """Whether removing ``rel`` from ``top`` would record it deleted (the layers
        below show it), so an empty stub there must stay."""


class Snapshotter(abc.ABC):
    """A driver's containers' writable layers; subclasses say how the files are kept."""

    #: the driver's name, as ``docker info`` shows it
    name: ClassVar[str]
    #: makes an unpacked layer's directory what the driver keeps (given its parent's
    #: directory); None: kept as unpacked
    stack_layer: ClassVar[Callable[[str, str | None], None] | None] = None

    def __init__(self, root: str, layers: LayerStore) -> None:
        self.root = root
        self.layers = layers
        self.tmp_dir = os.path.join(root, ".tmp")
        os.makedirs(root, exist_ok=True)
        empty_dir(self.tmp_dir)
        for path in (root, self.tmp_dir):  # a layer per container, made in tmp_dir
            spread_subdirs(path)
        for cid in self.ids():
            if not os.path.exists(os.path.join(root, cid, "meta.json")):
                shutil.rmtree(os.path.join(root, cid), ignore_errors=True)

    def _dir(self, cid: str) -> str:
        if not cid or "/" in cid or cid.startswith("."):
            raise WharfError(f"invalid container id {cid!r}")
        return os.path.join(self.root, cid)

    def create(self, cid: str, chain: str, meta: dict[str, str]) -> None:
        """Make the (unmounted) rw layer over layer ``chain`` and everything below it."""
        scratch = tempfile.mkdtemp(dir=self.tmp_dir)
        try:
            recorded = self._fill(scratch, chain)
            with open(os.path.join(scratch, "meta.json"), "w") as f:
                json.dump({**meta, **recorded}, f)
            os.rename(scratch, self._dir(cid))
        except BaseException:
            shutil.rmtree(scratch, ignore_errors=True)
            raise

    @abc.abstractmethod
    def _fill(self, scratch: str, chain: str) -> dict[str, str]:
        """The driver's files of a new rw layer over ``chain``, made in ``scratch``,
        and what it records in ``meta.json`` (one file: each new one is an inode to
        allocate per container)."""

    def meta(self, cid: str) -> dict[str, str]:
        try:
            with open(os.path.join(self._dir(cid), "meta.json")) as f:
                return json.load(f)
        except FileNotFoundError:
            raise NotFound(f"no rw layer for container {cid}") from None

    def ids(self) -> list[str]:
        return [name for name in os.listdir(self.root) if not name.startswith(".")]

    def remove(self, cid: str) -> None:
        """Delete the layer (unmounted); needs no free space (``fsutil.remove_tree``)."""
        remove_tree(self._dir(cid), self.tmp_dir)

    # -- what each driver answers ------------------------------------------
    @abc.abstractmethod
    def mount(self, cid: str, target: str) -> None:
        """The container's tree, writable, at ``target``."""

    @abc.abstractmethod
    def unmount(self, target: str) -> None:
        """Undo ``mount``; a target that is not mounted (or gone) is already done."""

    @abc.abstractmethod
    def diff(self, cid: str) -> Diff:
        """The container's changes, read when asked (``commit``)."""

    @abc.abstractmethod
    def changes(self, cid: str) -> list[tuple[str, int]]:
        """Docker's ``diff``: ("/path", kind), sorted by path."""

    @abc.abstractmethod
    def merged_dirs(self, cid: str) -> list[str]:
        """Directories whose merge (top first) is the container's tree (``export``)."""

    @abc.abstractmethod
    def size(self, cid: str) -> int:
        """Bytes of the regular files the container wrote (Docker's SizeRw)."""

    @abc.abstractmethod
    def image_dirs(self, chains: list[str]) -> list[str]:
        """Directories whose merge (top first) is the tree of an image with these layers
        (bottom first): what an image mount shows."""

    @abc.abstractmethod
    def graph_driver(self, chains: list[str]) -> dict[str, Any]:
        """Docker's ``GraphDriver`` block of an image with these layers (bottom first)."""
