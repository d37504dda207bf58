"""Manifest parsing and validation: what a PUT body must be before it is stored.

The server stores manifests byte for byte (their digest is over those bytes);
parsing is only to refuse bad ones (MANIFEST_INVALID), to find the blobs and
child manifests that must already be in the repository
(MANIFEST_BLOB_UNKNOWN), and to read the ``subject`` the referrers API
indexes.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from wharf.registry.server.errors import RegistryError
from wharf.registry.server.names import Digest, parse_digest

DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
IMAGE_TYPES = (DOCKER_MANIFEST, OCI_MANIFEST)
INDEX_TYPES = (DOCKER_LIST, OCI_INDEX)
#: a registry should take manifests of at least 4 MiB; we refuse larger ones
MAX_SIZE = 4 * 1024 * 1024


@dataclass
class Manifest:
    media_type: str
    #: config and layers of an image manifest: blobs that must be in the repository
    blobs: list[Digest] = field(default_factory=list)
    #: manifests an index lists: manifests that must be in the repository
    children: list[Digest] = field(default_factory=list)
    subject: Digest | None = None
    artifact_type: str | None = None
    annotations: dict[str, str] | None = None


def media_type_of(content_type: str | None) -> str | None:
    """The bare media type of a Content-Type header (no parameters), or None."""
    bare = (content_type or "").split(";", 1)[0].strip().lower()
    return bare or None


def parse(body: bytes, content_type: str | None) -> Manifest:
    """Validate a manifest body; raise MANIFEST_INVALID with the reason when it is not one."""
    try:
        doc = json.loads(body)
    except (ValueError, UnicodeDecodeError) as err:
        raise _invalid(f"manifest is not valid JSON: {err}") from None
    if not isinstance(doc, dict):
        raise _invalid("manifest must be a JSON object")
    if doc.get("schemaVersion") != 2:
        raise _invalid("unsupported manifest schemaVersion (only 2 is supported)")
    declared = doc.get("mediaType")
    header = media_type_of(content_type)
    if declared is not None and not isinstance(declared, str):
        raise _invalid("mediaType must be a string")
    if declared and header and header != declared and header != "application/json":
        raise _invalid(f"mediaType {declared} does not match Content-Type {header}")
    media_type = declared or (header if header in IMAGE_TYPES + INDEX_TYPES else None)
    if media_type is None:
        media_type = OCI_INDEX if "manifests" in doc else OCI_MANIFEST
    if media_type in IMAGE_TYPES:
        manifest = _image(doc, media_type)
    elif media_type in INDEX_TYPES:
        manifest = _index(doc, media_type)
    else:
        raise _invalid(f"unsupported manifest media type {media_type}")
    if doc.get("subject") is not None:
        manifest.subject = _descriptor(doc["subject"], "subject")
    annotations = doc.get("annotations")
    if annotations is not None and not (isinstance(annotations, dict) and
                                        all(isinstance(v, str) for v in annotations.values())):
        raise _invalid("annotations must map strings to strings")
    manifest.annotations = annotations
    artifact_type = doc.get("artifactType")
    if artifact_type is not None and not isinstance(artifact_type, str):
        raise _invalid("artifactType must be a string")
    manifest.artifact_type = artifact_type or manifest.artifact_type
    return manifest


def _image(doc: dict[str, Any], media_type: str) -> Manifest:
    config = doc.get("config")
    layers = doc.get("layers")
    if not isinstance(layers, list):
        raise _invalid("manifest has no layers list")
    blobs = [_descriptor(config, "config")]
    for index, layer in enumerate(layers):
        digest = _descriptor(layer, f"layers[{index}]")
        if not layer.get("urls"):      # foreign layers live elsewhere
            blobs.append(digest)
    return Manifest(media_type, blobs=blobs, artifact_type=config.get("mediaType"))


def _index(doc: dict[str, Any], media_type: str) -> Manifest:
    entries = doc.get("manifests")
    if not isinstance(entries, list):
        raise _invalid("index has no manifests list")
    return Manifest(media_type,
                    children=[_descriptor(entry, f"manifests[{i}]") for i, entry in enumerate(entries)])


def _descriptor(value: Any, where: str) -> Digest:
    if not isinstance(value, dict):
        raise _invalid(f"{where} is not a descriptor")
    if not isinstance(value.get("mediaType"), str):
        raise _invalid(f"{where} has no mediaType")
    size = value.get("size")
    if not isinstance(size, int) or isinstance(size, bool) or size < 0:
        raise _invalid(f"{where} has no valid size")
    try:
        return parse_digest(value.get("digest") if isinstance(value.get("digest"), str) else "")
    except RegistryError:
        raise _invalid(f"{where} has an invalid digest") from None


def _invalid(reason: str) -> RegistryError:
    return RegistryError("MANIFEST_INVALID", detail=reason)
