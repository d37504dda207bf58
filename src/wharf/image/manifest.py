"""Image manifests and indexes, Docker v2 schema 2 and OCI, with platform selection.

A manifest names an image config and its layers by digest; an index (OCI)
or manifest list (Docker) names one manifest per platform. ``save`` writes
OCI manifests (what Docker 25+ writes); ``load`` and, later, pull accept
both dialects. Documents are plain dicts in the wire shape, so their bytes
(and so their digests) are exactly what was written or received.
"""

from __future__ import annotations

import json
import platform as _platform
from dataclasses import dataclass
from typing import Any

from wharf.errors import InvalidParameter, NotFound
from wharf.image.content import sha256_digest

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar"
OCI_LAYER_GZIP = "application/vnd.oci.image.layer.v1.tar+gzip"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"
DOCKER_LAYER = "application/vnd.docker.image.rootfs.diff.tar"
DOCKER_LAYER_GZIP = "application/vnd.docker.image.rootfs.diff.tar.gzip"

MANIFEST_TYPES = (OCI_MANIFEST, DOCKER_MANIFEST)
INDEX_TYPES = (OCI_INDEX, DOCKER_LIST)
#: annotation keys that carry an image's name in an OCI layout's index.json
IMAGE_NAME_ANNOTATION = "io.containerd.image.name"
REF_NAME_ANNOTATION = "org.opencontainers.image.ref.name"

GOARCH = {"x86_64": "amd64", "aarch64": "arm64", "armv7l": "arm", "armv6l": "arm", "i686": "386",
          "ppc64le": "ppc64le", "s390x": "s390x", "riscv64": "riscv64"}


def host_arch() -> str:
    """The host's architecture in Go's words (``amd64``), as image configs spell it."""
    machine = _platform.machine()
    return GOARCH.get(machine, machine)


@dataclass(frozen=True)
class Descriptor:
    media_type: str
    digest: str
    size: int
    annotations: dict[str, str] | None = None
    platform: dict[str, str] | None = None

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"mediaType": self.media_type, "digest": self.digest, "size": self.size}
        if self.annotations:
            out["annotations"] = self.annotations
        if self.platform:
            out["platform"] = self.platform
        return out

    @classmethod
    def from_json(cls, doc: Any, where: str) -> "Descriptor":
        if not isinstance(doc, dict):
            raise InvalidParameter(f"{where}: a descriptor must be an object")
        digest, size = doc.get("digest"), doc.get("size")
        if not isinstance(digest, str) or not isinstance(size, int) or size < 0:
            raise InvalidParameter(f"{where}: a descriptor needs a digest and a size")
        return cls(str(doc.get("mediaType") or ""), digest, size, doc.get("annotations") or None,
                   doc.get("platform") or None)


@dataclass(frozen=True)
class Manifest:
    config: Descriptor
    layers: list[Descriptor]


def encode(doc: dict[str, Any]) -> bytes:
    """Canonical-enough JSON bytes: the digest of a document is the digest of these."""
    return json.dumps(doc, separators=(",", ":")).encode()


def image_manifest(config: bytes, layers: list[tuple[str, int]], oci: bool = True) -> dict[str, Any]:
    """A manifest for a config and its uncompressed layer blobs ``(digest, size)``."""
    config_type, layer_type, manifest_type = ((OCI_CONFIG, OCI_LAYER, OCI_MANIFEST) if oci else
                                              (DOCKER_CONFIG, DOCKER_LAYER, DOCKER_MANIFEST))
    return {"schemaVersion": 2, "mediaType": manifest_type,
            "config": Descriptor(config_type, sha256_digest(config), len(config)).to_json(),
            "layers": [Descriptor(layer_type, d, s).to_json() for d, s in layers]}


def index(manifests: list[Descriptor]) -> dict[str, Any]:
    return {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": [m.to_json() for m in manifests]}


def parse_json(data: bytes, what: str) -> dict[str, Any]:
    try:
        doc = json.loads(data)
    except ValueError as e:
        raise InvalidParameter(f"invalid {what}: {e}") from None
    if not isinstance(doc, dict):
        raise InvalidParameter(f"invalid {what}: not a JSON object")
    return doc


def kind(doc: dict[str, Any], descriptor_type: str = "") -> str:
    """``"index"`` or ``"manifest"``: by mediaType, else by shape (OCI makes mediaType optional)."""
    media_type = doc.get("mediaType") or descriptor_type
    if media_type in INDEX_TYPES or (not media_type and "manifests" in doc):
        return "index"
    if media_type in MANIFEST_TYPES or (not media_type and "config" in doc):
        return "manifest"
    raise InvalidParameter(f"unsupported manifest media type {media_type!r}")


def parse_manifest(doc: dict[str, Any]) -> Manifest:
    if doc.get("schemaVersion") != 2:
        raise InvalidParameter(f"unsupported manifest schema version {doc.get('schemaVersion')!r}")
    layers = doc.get("layers")
    if not isinstance(layers, list):
        raise InvalidParameter("invalid manifest: layers must be a list")
    return Manifest(Descriptor.from_json(doc.get("config"), "manifest config"),
                    [Descriptor.from_json(d, f"manifest layer {i}") for i, d in enumerate(layers)])


def parse_index(doc: dict[str, Any]) -> list[Descriptor]:
    manifests = doc.get("manifests")
    if not isinstance(manifests, list):
        raise InvalidParameter("invalid index: manifests must be a list")
    return [Descriptor.from_json(d, f"index entry {i}") for i, d in enumerate(manifests)]


def platform_matches(wanted: dict[str, str], offered: dict[str, str] | None) -> bool:
    """linux/amd64 matches an entry for linux/amd64 (any variant unless one is asked for)."""
    if not offered:
        return False
    return (offered.get("os") == wanted.get("os") and offered.get("architecture") == wanted.get("architecture")
            and (not wanted.get("variant") or offered.get("variant") == wanted["variant"]))


def select_platform(entries: list[Descriptor], wanted: dict[str, str] | None = None) -> Descriptor:
    """The manifest of an index for ``wanted`` (default: linux and the host's architecture)."""
    wanted = wanted or {"os": "linux", "architecture": host_arch()}
    for entry in entries:
        if platform_matches(wanted, entry.platform):
            return entry
    name = "/".join(v for v in (wanted.get("os"), wanted.get("architecture"), wanted.get("variant")) if v)
    raise NotFound(f"no matching manifest for {name} in the manifest list entries")
