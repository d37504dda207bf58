"""Manifest routes (GET/HEAD/PUT/DELETE by tag or digest) and the referrers API."""

from __future__ import annotations

import json

from aiohttp import web

from wharf.registry.server import manifests
from wharf.registry.server.context import Ctx, empty
from wharf.registry.server.errors import RegistryError
from wharf.registry.server.names import Digest, digest_of, is_tag, parse_digest

KNOWN_TYPES = manifests.IMAGE_TYPES + manifests.INDEX_TYPES


def _reference(text: str) -> tuple[str | None, Digest | None]:
    """(tag, None) or (None, digest); anything else is TAG_INVALID or DIGEST_INVALID."""
    if is_tag(text):
        return text, None
    if ":" in text:
        return None, parse_digest(text)
    raise RegistryError("TAG_INVALID", "invalid tag", detail={"tag": text})


async def _resolve(ctx: Ctx) -> Digest:
    tag, digest = _reference(ctx.arg)
    found = await ctx.disk(ctx.storage.resolve, ctx.name, ctx.arg)
    if found is None:
        raise RegistryError("MANIFEST_UNKNOWN", detail={"Tag": tag} if tag else {"Digest": str(digest)})
    return found


def _accepted(request: web.Request) -> set[str]:
    return {part.split(";", 1)[0].strip().lower()
            for header in request.headers.getall("Accept", []) for part in header.split(",")}


async def get_manifest(ctx: Ctx) -> web.StreamResponse:
    """GET and HEAD. A client that names manifest types it accepts gets 404 for one it does not."""
    digest = await _resolve(ctx)
    stored = await ctx.disk(ctx.storage.read_manifest, ctx.name, digest)
    if stored is None:
        raise RegistryError("MANIFEST_UNKNOWN", detail={"Digest": str(digest)})
    body, media_type = stored
    accepted = _accepted(ctx.request)
    if accepted & set(KNOWN_TYPES) and media_type not in accepted and "*/*" not in accepted:
        raise RegistryError("MANIFEST_UNKNOWN",
                            f"manifest is of type {media_type}, which the Accept header does not include")
    headers = {"Docker-Content-Digest": str(digest), "ETag": f'"{digest}"', "Content-Type": media_type}
    if ctx.request.method == "HEAD":
        return web.Response(headers={**headers, "Content-Length": str(len(body))})
    return web.Response(body=body, headers=headers)


async def _read_body(request: web.Request, limit: int) -> bytes:
    """The whole body, as many reads as it takes to arrive; over ``limit`` bytes, 413.

    One ``read(n)`` returns what has arrived so far, not ``n`` bytes: a large
    manifest came in cut and was refused as invalid JSON.
    """
    too_large = RegistryError("SIZE_INVALID", f"manifest too large: the limit is {limit} bytes", status=413)
    if request.content_length is not None and request.content_length > limit:
        raise too_large
    body = bytearray()
    async for chunk in request.content.iter_any():
        body += chunk
        if len(body) > limit:
            raise too_large
    return bytes(body)


async def put_manifest(ctx: Ctx) -> web.StreamResponse:
    """By tag, or by digest with any number of ``?tag=`` (the spec's tag parameters, answered
    with ``OCI-Tag``: the way to tag a manifest pushed by a digest other than sha256)."""
    tag, named = _reference(ctx.arg)
    tags = ctx.request.query.getall("tag", []) if named is not None else []
    for extra in tags:
        if not is_tag(extra):
            raise RegistryError("TAG_INVALID", "invalid tag", detail={"tag": extra})
    body = await _read_body(ctx.request, manifests.MAX_SIZE)
    manifest = manifests.parse(body, ctx.request.headers.get("Content-Type"))
    digest = digest_of(body, named.algorithm if named else "sha256")
    if named is not None and named != digest:
        raise RegistryError("DIGEST_INVALID", detail={"expected": str(named), "actual": str(digest)})
    for blob in manifest.blobs:
        if await ctx.disk(ctx.storage.blob_size, ctx.name, blob) is None:
            raise RegistryError("MANIFEST_BLOB_UNKNOWN", detail={"digest": str(blob)})
    for child in manifest.children:
        if await ctx.disk(ctx.storage.resolve, ctx.name, str(child)) is None:
            raise RegistryError("MANIFEST_BLOB_UNKNOWN", detail={"digest": str(child)})
    descriptor = {"mediaType": manifest.media_type, "digest": str(digest), "size": len(body)}
    if manifest.artifact_type:
        descriptor["artifactType"] = manifest.artifact_type
    if manifest.annotations:
        descriptor["annotations"] = manifest.annotations
    await ctx.disk(ctx.storage.put_manifest, ctx.name, body, digest, manifest.media_type,
                   [tag] if tag is not None else tags, manifest.subject, descriptor)
    headers = {"Location": f"/v2/{ctx.name}/manifests/{digest}", "Docker-Content-Digest": str(digest)}
    if tags:
        headers["OCI-Tag"] = ", ".join(tags)
    if manifest.subject is not None:
        headers["OCI-Subject"] = str(manifest.subject)
    return empty(201, headers)


async def delete_manifest(ctx: Ctx) -> web.StreamResponse:
    """By tag: untag. By digest: remove the manifest, its tags and its referrer entry."""
    tag, digest = _reference(ctx.arg)
    if tag is not None:
        if not await ctx.disk(ctx.storage.delete_tag, ctx.name, tag):
            raise RegistryError("MANIFEST_UNKNOWN", detail={"Tag": tag})
        return empty(202, {})
    assert digest is not None
    stored = await ctx.disk(ctx.storage.read_manifest, ctx.name, digest)
    if stored is None:
        raise RegistryError("MANIFEST_UNKNOWN", detail={"Digest": str(digest)})
    try:
        subject = manifests.parse(stored[0], stored[1]).subject
    except RegistryError:       # stored before validation got stricter: still deletable
        subject = None
    await ctx.disk(ctx.storage.delete_manifest, ctx.name, digest, subject)
    return empty(202, {"Docker-Content-Digest": str(digest)})


async def referrers(ctx: Ctx) -> web.StreamResponse:
    """An OCI index of the manifests whose ``subject`` is the digest, optionally by artifactType."""
    subject = parse_digest(ctx.arg)
    found = await ctx.disk(ctx.storage.referrers, ctx.name, subject)
    headers = {"Content-Type": manifests.OCI_INDEX}
    wanted = ctx.request.query.get("artifactType")
    if wanted is not None:
        found = [d for d in found if d.get("artifactType") == wanted]
        headers["OCI-Filters-Applied"] = "artifactType"
    index = {"schemaVersion": 2, "mediaType": manifests.OCI_INDEX, "manifests": found}
    return web.Response(body=json.dumps(index).encode(), headers=headers)
