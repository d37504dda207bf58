"""``save`` and ``load`` archives: Docker's format and an OCI image layout in one tar.

What ``save`` writes is what Docker 25+ writes, readable by older Docker
(``manifest.json``), by containerd and by OCI tools (``index.json``)::

    blobs/sha256/<hex>   image configs, layers (uncompressed tars), OCI manifests
    index.json           one manifest per name (annotated with it), or per untagged image
    oci-layout           {"imageLayoutVersion": "1.0.0"}
    manifest.json        [{"Config", "RepoTags", "Layers"}], paths into blobs/
    repositories         {"busybox": {"latest": "<top layer hex>"}} (Docker's legacy index)

``load`` reads that, Docker 20.10's layout (``<id>/layer.tar``, ``<id>.json``)
and any OCI layout. Archives are untrusted: every member is spooled into the
content store's ingest area (hashed as it is written, so a blob named
``blobs/sha256/<hex>`` is checked against its name), links may not leave the
archive, device nodes are refused, and each layer must unpack to the diff ID
its config announces. Layers are unpacked without a lock; ``commit`` (under
the caller's lock) then registers layers, images and tags in one go, so a
failure leaves no half-made image and a crash leaves only scratch that the
next start removes.
"""

from __future__ import annotations

import io
import json
import posixpath
import re
import tarfile
from dataclasses import dataclass, field
from typing import Any, BinaryIO

from wharf.errors import InvalidParameter
from wharf.image import manifest as mf
from wharf.image import reference
from wharf.image.archive import UnsafeArchive, clean_name
from wharf.image.content import DigestMismatch, Writer, digest_hex, sha256_digest
from wharf.image.layers import Unpacked, chain_ids
from wharf.image.reference import Reference
from wharf.image.store import ImageStore
from wharf.image.tarsplit import LayerTar

CHUNK = 1 << 20
_BLOB_PATH_RE = re.compile(r"^blobs/sha256/([a-f0-9]{64})$")
_MAX_LINK_HOPS = 16
_MAX_METADATA = 16 << 20  # a manifest, index or config larger than this is not one


@dataclass
class Selection:
    """An image to save and the names to save it under."""

    image_id: str
    refs: list[Reference]


# -- save ----------------------------------------------------------------------
class Saver:
    """One ``save``: built under the caller's lock (configs read, layers held), written
    after it (an ``rmi`` meanwhile removes no layer it reads), then ``close``d under
    the lock again. Layer tars are rebuilt from their tar-splits and verified first,
    so a corrupt layer fails the save before any byte of it is sent, as Docker's
    save (which writes its archive aside first) fails."""

    def __init__(self, store: ImageStore, selections: list[Selection]) -> None:
        self._store = store
        self._images: list[tuple[Selection, bytes, list[str]]] = []
        self._layers: dict[str, LayerTar] = {}  # diff ID -> its tar
        self._chains: list[str] = []  # the layers read, held until ``close``
        for sel in selections:
            record = store.record(sel.image_id)
            self._images.append((sel, store.content.get(sel.image_id), record.diff_ids))
            for chain, diff_id in zip(record.chain_ids, record.diff_ids):
                if diff_id not in self._layers:
                    self._layers[diff_id] = store.layer_tar(chain)
                    self._chains.append(chain)
        store.hold(self._chains)

    def close(self) -> None:
        """Let the layers go (the caller holds the store's lock)."""
        self._store.release(self._chains)
        self._chains = []

    def verify(self) -> None:
        """Rebuild every layer's tar and check it against its diff ID (LayerCorrupt if not)."""
        for tar in self._layers.values():
            tar.verify()

    def write(self, out: BinaryIO) -> None:
        """Write the archive to ``out``, each blob once."""
        self.verify()
        written: set[str] = set()
        docker_manifest: list[dict[str, Any]] = []
        index: list[mf.Descriptor] = []
        repositories: dict[str, dict[str, str]] = {}
        with tarfile.open(fileobj=out, mode="w|", format=tarfile.PAX_FORMAT, bufsize=CHUNK,
                          copybufsize=CHUNK) as tar:
            for name in ("blobs", "blobs/sha256"):
                info = tarfile.TarInfo(name)
                info.type, info.mode = tarfile.DIRTYPE, 0o755
                tar.addfile(info)

            def blob(digest: str, data: bytes | None = None) -> str:
                path = f"blobs/sha256/{digest_hex(digest)}"
                if digest not in written:
                    written.add(digest)
                    info = tarfile.TarInfo(path)
                    info.mode = 0o644
                    if data is not None:
                        info.size = len(data)
                        tar.addfile(info, io.BytesIO(data))
                    else:
                        info.size = self._layers[digest].size
                        with self._layers[digest].open() as f:
                            tar.addfile(info, f)  # type: ignore[arg-type]
                return path

            for sel, config, diff_ids in self._images:
                layer_paths = [blob(d) for d in diff_ids]
                sizes = [self._layers[d].size for d in diff_ids]
                doc = mf.encode(mf.image_manifest(config, list(zip(diff_ids, sizes))))
                manifest_digest = sha256_digest(doc)
                blob(manifest_digest, doc)
                tags = [r for r in sel.refs if r.tag]
                docker_manifest.append({"Config": blob(sel.image_id, config),
                                        "RepoTags": [r.familiar() for r in tags] or None, "Layers": layer_paths})
                for ref in tags:
                    index.append(mf.Descriptor(mf.OCI_MANIFEST, manifest_digest, len(doc), {
                        mf.IMAGE_NAME_ANNOTATION: str(ref), mf.REF_NAME_ANNOTATION: ref.tag or ""}))
                    if diff_ids:
                        repositories.setdefault(ref.familiar_name, {})[ref.tag or ""] = digest_hex(diff_ids[-1])
                if not tags:
                    index.append(mf.Descriptor(mf.OCI_MANIFEST, manifest_digest, len(doc)))
            _add_bytes(tar, "index.json", mf.encode(mf.index(index)))
            _add_bytes(tar, "manifest.json", json.dumps(docker_manifest, separators=(",", ":")).encode())
            _add_bytes(tar, "oci-layout", b'{"imageLayoutVersion":"1.0.0"}')
            if repositories:
                _add_bytes(tar, "repositories", json.dumps(repositories, separators=(",", ":")).encode())


def _add_bytes(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size, info.mode = len(data), 0o644
    tar.addfile(info, io.BytesIO(data))


# -- load ----------------------------------------------------------------------
@dataclass
class _Image:
    config: bytes
    layer_paths: list[str]
    refs: list[Reference] = field(default_factory=list)

    @property
    def diff_ids(self) -> list[str]:
        return json.loads(self.config)["rootfs"]["diff_ids"]


@dataclass
class Loaded:
    """One image registered by ``commit``: its ID, names, and the image each name took over from."""

    image_id: str
    refs: list[Reference]
    replaced: dict[str, str]


class Loader:
    """One ``load``: ``read`` (spool, parse, unpack; no lock), ``commit`` (lock held), ``close``."""

    def __init__(self, store: ImageStore) -> None:
        self.store = store
        self._files: dict[str, Writer] = {}
        self._links: dict[str, str] = {}
        self._images: list[_Image] = []
        self._pending: dict[str, tuple[Unpacked, Writer]] = {}

    def __enter__(self) -> "Loader":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        for pending in self._pending.values():
            self.store.discard_layer(pending)
        for writer in self._files.values():
            writer.abort()
        self._pending.clear()
        self._files.clear()

    def read(self, stream: BinaryIO) -> None:
        self._spool(stream)
        self._images = self._docker_images() if "manifest.json" in self._names() else self._oci_images()
        if not self._images:
            raise InvalidParameter("no images found in the archive")
        for image in self._images:
            self._unpack(image)

    # spooling ---------------------------------------------------------------
    def _names(self) -> set[str]:
        return set(self._files) | set(self._links)

    def _spool(self, stream: BinaryIO) -> None:
        try:
            archive = tarfile.open(fileobj=stream, mode="r|", bufsize=CHUNK)  # type: ignore[call-overload]
            for member in archive:
                name = clean_name(member.name)
                if member.isdir() or not name:
                    continue
                if name in self._files:  # a later entry of the same name replaces the earlier
                    self._files.pop(name).abort()
                if member.isreg():
                    writer = self.store.content.writer()
                    self._files[name] = writer  # registered first: close() aborts it on failure
                    src = archive.extractfile(member)
                    while src is not None and (chunk := src.read(CHUNK)):
                        writer.write(chunk)
                elif member.issym():
                    target = posixpath.normpath(posixpath.join(posixpath.dirname(name), member.linkname))
                    if member.linkname.startswith("/") or target == ".." or target.startswith("../"):
                        raise UnsafeArchive(f'refusing archive entry "{member.name}": '
                                            f'symlink to "{member.linkname}" leaves the archive')
                    self._links[name] = target
                elif member.islnk():
                    self._links[name] = clean_name(member.linkname)
                else:
                    raise UnsafeArchive(f'refusing archive entry "{member.name}": '
                                        "only files, directories and links belong in an image archive")
        except tarfile.TarError as e:
            raise InvalidParameter(f"archive/tar: {e}") from None

    def _file(self, path: str) -> Writer:
        name = clean_name(path)
        for _ in range(_MAX_LINK_HOPS):
            if name in self._files:
                writer = self._files[name]
                match = _BLOB_PATH_RE.match(name)
                if match and writer.digest != "sha256:" + match.group(1):
                    raise DigestMismatch(f'blob "{name}" does not match its digest: its content is {writer.digest}')
                return writer
            if name not in self._links:
                break
            name = self._links[name]
        raise InvalidParameter(f'invalid archive: "{path}" is missing')

    def _bytes(self, path: str) -> bytes:
        """A metadata file (JSON), refused when too large to be one."""
        writer = self._file(path)
        if writer.size > _MAX_METADATA:
            raise InvalidParameter(f'invalid archive: "{path}" is too large')
        with open(writer.path, "rb") as f:
            return f.read()

    def _json(self, path: str) -> Any:
        try:
            return json.loads(self._bytes(path))
        except ValueError as e:
            raise InvalidParameter(f'invalid archive: "{path}": {e}') from None

    # parsing ------------------------------------------------------------------
    def _docker_images(self) -> list[_Image]:
        entries = self._json("manifest.json")
        if not isinstance(entries, list):
            raise InvalidParameter("invalid archive: manifest.json must be a list")
        images = []
        for entry in entries:
            if not isinstance(entry, dict) or not isinstance(entry.get("Config"), str) \
                    or not isinstance(entry.get("Layers"), list):
                raise InvalidParameter("invalid archive: a manifest.json entry needs Config and Layers")
            refs = [reference.parse_tagged(t) for t in entry.get("RepoTags") or []]
            images.append(self._image(self._bytes(entry["Config"]), [str(p) for p in entry["Layers"]], refs))
        return images

    def _oci_images(self) -> list[_Image]:
        if "index.json" not in self._names():
            raise InvalidParameter("invalid archive: neither manifest.json nor index.json found")
        images = []
        for desc in mf.parse_index(self._json("index.json")):
            doc = self._blob_json(desc)
            if mf.kind(doc, desc.media_type) == "index":
                desc = mf.select_platform(mf.parse_index(doc))
                doc = self._blob_json(desc)
            manifest = mf.parse_manifest(doc)
            config_path = self._blob_path(manifest.config)
            images.append(self._image(self._bytes(config_path), [self._blob_path(d) for d in manifest.layers],
                                      _names_of(desc)))
        return images

    def _blob_path(self, desc: mf.Descriptor) -> str:
        path = f"blobs/sha256/{digest_hex(desc.digest)}"
        writer = self._file(path)  # checks the digest
        if writer.size != desc.size:
            raise DigestMismatch(f'blob "{path}" is {writer.size} bytes, its descriptor says {desc.size}')
        return path

    def _blob_json(self, desc: mf.Descriptor) -> dict[str, Any]:
        doc = self._json(self._blob_path(desc))
        if not isinstance(doc, dict):
            raise InvalidParameter(f"invalid manifest {desc.digest}")
        return doc

    @staticmethod
    def _image(config: bytes, layer_paths: list[str], refs: list[Reference]) -> _Image:
        doc = mf.parse_json(config, "image config")
        diff_ids = (doc.get("rootfs") or {}).get("diff_ids")
        if not isinstance(diff_ids, list) or len(diff_ids) != len(layer_paths):
            raise InvalidParameter("invalid image config: rootfs.diff_ids must list one diff ID per layer")
        for d in diff_ids:
            digest_hex(str(d))
        return _Image(config, layer_paths, refs)

    # unpacking ---------------------------------------------------------------
    def _unpack(self, image: _Image) -> None:
        for path, diff_id, chain in zip(image.layer_paths, image.diff_ids, chain_ids(image.diff_ids)):
            if chain in self._pending or self.store.layers.exists(chain):
                continue
            spooled = self._file(path)
            with open(spooled.path, "rb") as f:
                if spooled.digest == diff_id:  # uncompressed: the spooled file is the blob
                    pending = (self.store.layers.unpack(f), spooled)
                else:
                    pending = self.store.unpack_layer(f)
            self._pending[chain] = pending
            if pending[0].diff_id != diff_id:
                raise DigestMismatch(f'layer "{path}" does not match the image config: '
                                     f"expected diff ID {diff_id}, got {pending[0].diff_id}")

    def commit(self, when: str) -> list[Loaded]:
        """Register layers, images and tags (the caller holds the store's lock)."""
        loaded = []
        for image in self._images:
            parent: str | None = None
            for chain in chain_ids(image.diff_ids):
                if not self.store.layers.exists(chain):
                    self.store.commit_layer(self._pending.pop(chain), parent)
                parent = chain
            image_id = self.store.create_raw(image.config)
            replaced = {}
            for ref in image.refs:
                previous = self.store.tag(image_id, ref, when)
                if previous:
                    replaced[ref.familiar()] = previous
            loaded.append(Loaded(image_id, image.refs, replaced))
        return loaded


def _names_of(desc: mf.Descriptor) -> list[Reference]:
    """The name an OCI index entry gives its image, if it gives a full one."""
    annotations = desc.annotations or {}
    name = annotations.get(mf.IMAGE_NAME_ANNOTATION) or annotations.get(mf.REF_NAME_ANNOTATION) or ""
    if ":" not in name and "/" not in name:
        return []  # a bare tag ("latest") names no repository
    try:
        ref = reference.parse_tagged(name)
    except InvalidParameter:
        return []
    return [ref] if ref.tag else []
