"""Blob routes: fetch, delete, and the upload protocol (monolithic, chunked, mount).

An upload's bytes go to ``uploads/<uuid>/data``; the blob appears only when
the final PUT (or a POST with ``?digest=``) has hashed everything and the
digest matched, by a rename. A mismatch drops the upload: nothing is stored.
Clients that stream one big PATCH (docker, skopeo) would otherwise pay for a
second read of the file to hash it, so each upload keeps its running sha256
in memory while its offset agrees with the file; after a restart the PUT
simply re-reads the data.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import re
from typing import Any

from aiohttp import web

from wharf.registry.server.auth import Scope
from wharf.registry.server.context import Ctx, empty
from wharf.registry.server.errors import RegistryError
from wharf.registry.server.names import NAME_RE, Digest, parse_digest

#: write to disk in pieces of about this size (one thread hop each)
WRITE_CHUNK = 1 << 20
_RANGE_RE = re.compile(r"(?:bytes[ =])?(\d+)-(\d+)")


# -- blobs ----------------------------------------------------------------
async def get_blob(ctx: Ctx) -> web.StreamResponse:
    """GET and HEAD; aiohttp's FileResponse serves Range (206, and 416 for bad ranges)."""
    digest = parse_digest(ctx.arg)
    if await ctx.disk(ctx.storage.blob_size, ctx.name, digest) is None:
        raise RegistryError("BLOB_UNKNOWN", detail={"digest": str(digest)})
    return web.FileResponse(ctx.storage.blob_path(digest), headers={
        "Docker-Content-Digest": str(digest), "Content-Type": "application/octet-stream",
        "Accept-Ranges": "bytes"})


async def delete_blob(ctx: Ctx) -> web.StreamResponse:
    """Unlink the blob from the repository; ``registry gc`` reclaims the bytes."""
    digest = parse_digest(ctx.arg)
    if not await ctx.disk(ctx.storage.unlink_blob, ctx.name, digest):
        raise RegistryError("BLOB_UNKNOWN", detail={"digest": str(digest)})
    return empty(202, {"Docker-Content-Digest": str(digest)})


# -- uploads ----------------------------------------------------------------
async def start_upload(ctx: Ctx) -> web.StreamResponse:
    query = ctx.request.query
    if "mount" in query:
        mounted = await _mount(ctx, query["mount"], query.get("from", ""))
        if mounted is not None:
            return mounted
    digest = parse_digest(query["digest"]) if "digest" in query else None
    upload_id = await ctx.disk(ctx.storage.new_upload, ctx.name)
    if digest is None:
        return _upload_state(ctx, upload_id, 0, 202)
    try:
        return await _finish(ctx, upload_id, digest)
    finally:      # a monolithic upload's id is never handed out: never leave it behind
        await ctx.disk(ctx.storage.drop_upload, upload_id)
        _forget(ctx, upload_id)


async def _mount(ctx: Ctx, mount: str, source: str) -> web.StreamResponse | None:
    """Cross-repository mount: link a blob the caller may pull from ``source``; None to upload instead."""
    digest = parse_digest(mount)
    if not NAME_RE.fullmatch(source) or not ctx.grant.allows(Scope("repository", source, frozenset({"pull"}))):
        return None
    if await ctx.disk(ctx.storage.blob_size, source, digest) is None:
        return None
    await ctx.disk(ctx.storage.link_blob, ctx.name, digest)
    return _created(ctx, digest)


async def upload_status(ctx: Ctx) -> web.StreamResponse:
    path = await ctx.disk(ctx.storage.upload_data, ctx.name, ctx.arg)
    return _upload_state(ctx, ctx.arg, await ctx.disk(os.path.getsize, path), 204)


async def cancel_upload(ctx: Ctx) -> web.StreamResponse:
    await ctx.disk(ctx.storage.upload_data, ctx.name, ctx.arg)
    async with _lock(ctx):
        await ctx.disk(ctx.storage.drop_upload, ctx.arg)
    _forget(ctx, ctx.arg)
    return empty(204, {})


async def patch_upload(ctx: Ctx) -> web.StreamResponse:
    async with _lock(ctx):
        path = await ctx.disk(ctx.storage.upload_data, ctx.name, ctx.arg)
        size = await _append(ctx, path, ctx.arg)
    return _upload_state(ctx, ctx.arg, size, 202)


async def put_upload(ctx: Ctx) -> web.StreamResponse:
    if "digest" not in ctx.request.query:
        raise RegistryError("DIGEST_INVALID", "digest missing from the upload's final PUT")
    digest = parse_digest(ctx.request.query["digest"])
    async with _lock(ctx):
        await ctx.disk(ctx.storage.upload_data, ctx.name, ctx.arg)
        return await _finish(ctx, ctx.arg, digest)


async def _finish(ctx: Ctx, upload_id: str, digest: Digest) -> web.StreamResponse:
    """Append the request's body, verify the whole upload against ``digest``, publish it.

    A digest mismatch ends the upload (nothing stored); a bad Content-Range
    leaves it for the client to retry.
    """
    path = await ctx.disk(ctx.storage.upload_data, ctx.name, upload_id)
    size = await _append(ctx, path, upload_id)
    running = ctx.state["hashes"].get(upload_id)
    if digest.algorithm == "sha256" and running is not None and running[0] == size:
        actual = running[1].hexdigest()
    else:
        actual = await ctx.disk(_hash_file, path, digest.algorithm)
    try:
        if actual != digest.hex:
            raise RegistryError("DIGEST_INVALID", detail={"expected": str(digest),
                                                          "actual": f"{digest.algorithm}:{actual}"})
        await ctx.disk(ctx.storage.commit_blob, ctx.name, path, digest)
    finally:
        await ctx.disk(ctx.storage.drop_upload, upload_id)
        _forget(ctx, upload_id)
    return _created(ctx, digest)


async def _append(ctx: Ctx, path: str, upload_id: str) -> int:
    """Append the body at the upload's end, honouring Content-Range; the new size."""
    request = ctx.request
    size = await ctx.disk(os.path.getsize, path)
    expected = _check_range(ctx, upload_id, size)
    running = ctx.state["hashes"].get(upload_id)
    hasher = running[1] if running is not None and running[0] == size else (
        hashlib.sha256() if size == 0 else None)
    written = 0
    f = await ctx.disk(open, path, "ab")
    try:
        buffer = bytearray()
        async for chunk in request.content.iter_chunked(WRITE_CHUNK):
            buffer += chunk
            if len(buffer) >= WRITE_CHUNK:
                await ctx.disk(_write, f, bytes(buffer), hasher)
                written += len(buffer)
                buffer.clear()
        if buffer:
            await ctx.disk(_write, f, bytes(buffer), hasher)
            written += len(buffer)
    finally:
        await ctx.disk(f.close)
    if expected is not None and written != expected:
        await ctx.disk(os.truncate, path, size)
        raise RegistryError("SIZE_INVALID", detail={"declared": expected, "received": written})
    if hasher is not None:
        ctx.state["hashes"][upload_id] = (size + written, hasher)
    return size + written


def _check_range(ctx: Ctx, upload_id: str, size: int) -> int | None:
    """The length Content-Range declares, after checking it starts at the upload's end (else 416)."""
    header = ctx.request.headers.get("Content-Range")
    if header is None:
        return None
    match = _RANGE_RE.fullmatch(header.strip())
    if not match or int(match[2]) < int(match[1]):
        raise RegistryError("BLOB_UPLOAD_INVALID", f"malformed Content-Range {header!r}")
    start, end = int(match[1]), int(match[2])
    if start != size:
        raise RegistryError("RANGE_INVALID", f"chunk starts at {start}, upload is at {size}",
                            headers=_state_headers(ctx, upload_id, size))
    length = ctx.request.headers.get("Content-Length")
    if length is not None and length.isdigit() and int(length) != end - start + 1:
        raise RegistryError("SIZE_INVALID", "Content-Length does not match Content-Range")
    return end - start + 1


def _write(f: Any, data: bytes, hasher: Any) -> None:
    f.write(data)
    if hasher is not None:
        hasher.update(data)


def _hash_file(path: str, algorithm: str) -> str:
    hasher = hashlib.new(algorithm)
    with open(path, "rb") as f:
        while block := f.read(WRITE_CHUNK):
            hasher.update(block)
    return hasher.hexdigest()


def _lock(ctx: Ctx) -> asyncio.Lock:
    return ctx.state["locks"].setdefault(ctx.arg, asyncio.Lock())


def _forget(ctx: Ctx, upload_id: str) -> None:
    ctx.state["locks"].pop(upload_id, None)
    ctx.state["hashes"].pop(upload_id, None)


def _state_headers(ctx: Ctx, upload_id: str, size: int) -> dict[str, str]:
    return {"Location": f"/v2/{ctx.name}/blobs/uploads/{upload_id}",
            "Range": f"0-{max(size - 1, 0)}", "Docker-Upload-UUID": upload_id}


def _upload_state(ctx: Ctx, upload_id: str, size: int, status: int) -> web.StreamResponse:
    return empty(status, _state_headers(ctx, upload_id, size))


def _created(ctx: Ctx, digest: Digest) -> web.StreamResponse:
    return empty(201, {"Location": f"/v2/{ctx.name}/blobs/{digest}", "Docker-Content-Digest": str(digest)})
