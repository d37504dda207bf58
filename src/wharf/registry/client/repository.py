"""The distribution API on one repository: manifests, blobs, uploads, tags.

Everything fetched is checked against the digest it was asked by (and the
size its descriptor gives) before anyone may use it; a blob that does not
match is refused with ``DigestMismatch`` and the caller throws its bytes
away. Bytes at hand (a config) are uploaded monolithic (POST, then PUT with
the bytes); bytes made as they are sent (a compressed layer) as one streamed
PATCH, then an empty PUT with their digest, as dockerd pushes.
"""

from __future__ import annotations

import asyncio
import hashlib
from dataclasses import dataclass
from typing import Any, AsyncIterator, Awaitable, Callable, Protocol

import aiohttp
from yarl import URL

from wharf.errors import InvalidParameter, WharfError
from wharf.image import manifest as mf
from wharf.image.content import DigestMismatch, sha256_digest
from wharf.registry.client.auth import scope
from wharf.registry.client.session import RegistryUnavailable, Session, registry_error

ACCEPT = ", ".join((mf.DOCKER_MANIFEST, mf.DOCKER_LIST, mf.OCI_MANIFEST, mf.OCI_INDEX))
_READ = 1 << 20
#: the pauses before a layer download's or upload's 2nd to 5th try (dockerd: 5, 10, 15, 20 s,
#: with a countdown)
TRANSFER_RETRY_DELAYS = (1, 2, 4, 8)
OnBytes = Callable[[int], None]
Write = Callable[[bytes], Awaitable[None]]


class Streamed(Protocol):
    """Bytes made as they are uploaded; their digest once they ended."""

    digest: str

    def __aiter__(self) -> AsyncIterator[bytes]: ...

    def cancel(self) -> None: ...


@dataclass
class _Received:
    """What a download has so far, kept across its tries."""

    hasher: Any
    size: int = 0


def _lost(error: BaseException) -> str:
    """A lost download's reason, in Go's words where it has them."""
    if isinstance(error, aiohttp.ClientPayloadError):
        return "unexpected EOF"
    if isinstance(error, asyncio.TimeoutError):
        return "i/o timeout"
    return str(error) or type(error).__name__


@dataclass(frozen=True)
class Fetched:
    """A manifest or index as the registry sent it."""

    data: bytes
    media_type: str
    digest: str

    def json(self) -> dict[str, Any]:
        return mf.parse_json(self.data, "manifest")


class Repository:
    def __init__(self, session: Session, path: str, push: bool = False) -> None:
        self.session = session
        self.path = path
        self.scopes = [scope(path, "pull,push" if push else "pull")]

    async def _request(self, method: str, path: str, scopes: list[str] | None = None,
                       **kwargs: Any) -> aiohttp.ClientResponse:
        return await self.session.request(method, path, scopes or self.scopes, **kwargs)

    # -- reading -----------------------------------------------------------
    async def manifest(self, reference: str) -> Fetched:
        """The manifest (or index) for a tag or digest; NotFound as distribution words it."""
        async with await self._request("GET", f"/v2/{self.path}/manifests/{reference}",
                                       headers={"Accept": ACCEPT}) as resp:
            data = await resp.read()
            if resp.status != 200:
                raise registry_error(resp.status, data, resp.reason or "")
            media_type = resp.headers.get("Content-Type", "").split(";")[0].strip()
        digest = sha256_digest(data)
        if reference.startswith("sha256:") and digest != reference:
            raise DigestMismatch(f"manifest verification failed for digest {reference}")
        return Fetched(data, media_type, digest)

    async def blob(self, desc: mf.Descriptor, limit: int = 16 << 20) -> bytes:
        """A small blob (an image config) in memory, verified."""
        if desc.size > limit:
            raise InvalidParameter(f"blob {desc.digest} is too large ({desc.size} bytes)")
        chunks: list[bytes] = []

        async def keep(chunk: bytes) -> None:
            chunks.append(chunk)
        await self.download(desc, keep)
        return b"".join(chunks)

    async def download(self, desc: mf.Descriptor, write: Write,
                       on_bytes: OnBytes | None = None, on_retry: OnBytes | None = None) -> None:
        """Stream a blob into ``write`` (which may make the download wait: a slow consumer
        slows the connection); DigestMismatch if its bytes are not what ``desc`` names.

        A connection lost mid-blob is resumed where it broke with a ``Range``
        request (a registry that answers 200 instead has the bytes we hold
        skipped), five tries in all with pauses between them, as dockerd's
        downloads; ``on_retry`` is told each pause's seconds first.
        """
        got = _Received(hashlib.sha256())
        for delay in (*TRANSFER_RETRY_DELAYS, None):
            try:
                await self._download_from(desc, got, write, on_bytes)
                break
            except (aiohttp.ClientPayloadError, aiohttp.ClientConnectionError, asyncio.TimeoutError) as e:
                if delay is None:
                    raise RegistryUnavailable(f"{desc.digest}: {_lost(e)} after "
                                              f"{len(TRANSFER_RETRY_DELAYS) + 1} tries") from None
                if on_retry is not None:
                    on_retry(delay)
                await asyncio.sleep(delay)
        if "sha256:" + got.hasher.hexdigest() != desc.digest or got.size != desc.size:
            raise DigestMismatch(f"filesystem layer verification failed for digest {desc.digest}")

    async def _download_from(self, desc: mf.Descriptor, got: "_Received", write: Write,
                             on_bytes: OnBytes | None) -> None:
        """One GET of the blob from ``got.size`` on; what arrives is hashed and written."""
        headers = {"Range": f"bytes={got.size}-"} if got.size else {}
        async with await self._request("GET", f"/v2/{self.path}/blobs/{desc.digest}", headers=headers) as resp:
            if resp.status not in (200, 206) or (resp.status == 206 and not got.size):
                raise registry_error(resp.status, await resp.read(), resp.reason or "")
            skip = got.size if resp.status == 200 else 0
            async for chunk in resp.content.iter_chunked(_READ):
                if skip:
                    dropped = min(skip, len(chunk))
                    chunk, skip = chunk[dropped:], skip - dropped
                    if not chunk:
                        continue
                got.size += len(chunk)
                if got.size > desc.size:
                    raise DigestMismatch(f"blob {desc.digest} is larger than its {desc.size} bytes")
                got.hasher.update(chunk)
                await write(chunk)
                if on_bytes is not None:
                    on_bytes(len(chunk))

    async def tags(self) -> list[str]:
        """Every tag, following ``Link`` pagination."""
        tags: list[str] = []
        path = f"/v2/{self.path}/tags/list"
        while path:
            async with await self._request("GET", path) as resp:
                data = await resp.read()
                if resp.status != 200:
                    raise registry_error(resp.status, data, resp.reason or "")
                tags += mf.parse_json(data, "tag list").get("tags") or []
                link = resp.links.get("next", {}).get("url")
                path = str(URL(self.session.base).join(link)) if link else ""
        return tags

    # -- writing -----------------------------------------------------------
    async def exists(self, digest: str) -> bool:
        async with await self._request("HEAD", f"/v2/{self.path}/blobs/{digest}") as resp:
            if resp.status in (200, 404):
                return resp.status == 200
            raise registry_error(resp.status, b"", resp.reason or "")

    async def start_upload(self, mount: tuple[str, str] | None = None) -> str | None:
        """An upload session's URL; None when ``mount`` (digest, source repository) did it instead."""
        params = {"mount": mount[0], "from": mount[1]} if mount else None
        scopes = self.scopes + ([scope(mount[1], "pull")] if mount else [])
        async with await self._request("POST", f"/v2/{self.path}/blobs/uploads/", scopes,
                                       params=params, headers={"Content-Length": "0"}) as resp:
            data = await resp.read()
            if mount and resp.status == 201:
                return None
            if resp.status != 202:
                raise registry_error(resp.status, data, resp.reason or "")
            return self._location(resp)

    def _location(self, resp: aiohttp.ClientResponse) -> str:
        location = resp.headers.get("Location")
        if not location:
            raise WharfError(f"registry {self.session.host} answered an upload without a Location")
        return str(URL(self.session.base).join(URL(location)))

    async def upload(self, digest: str, data: bytes) -> None:
        """Upload bytes at hand (an image config) as blob ``digest``: POST, then one PUT."""
        location = await self.start_upload()
        assert location is not None
        url = str(URL(location).update_query(digest=digest))
        async with await self._request("PUT", url, body=data,
                                       headers={"Content-Type": "application/octet-stream"}) as resp:
            if resp.status != 201:
                raise registry_error(resp.status, await resp.read(), resp.reason or "")

    async def upload_stream(self, stream: Streamed, location: str | None = None) -> None:
        """Upload bytes made as they are sent (a compressing push), as Docker does: one
        chunked PATCH, then a PUT with the stream's digest, known once it ended.

        Nothing is retried here: a stream cannot be sent twice (the caller starts over).
        """
        location = location or await self.start_upload()
        assert location is not None
        try:
            async with await self._request("PATCH", location, body=aiter(stream), retry=False,
                                           headers={"Content-Type": "application/octet-stream"}) as resp:
                if resp.status != 202:
                    raise registry_error(resp.status, await resp.read(), resp.reason or "")
                location = self._location(resp)
        finally:
            stream.cancel()  # a no-op once it ended; after a failure, stops its producer
        url = str(URL(location).update_query(digest=stream.digest))
        async with await self._request("PUT", url, headers={"Content-Length": "0"}) as resp:
            if resp.status != 201:
                raise registry_error(resp.status, await resp.read(), resp.reason or "")

    async def put_manifest(self, tag: str, data: bytes, media_type: str) -> str:
        async with await self._request("PUT", f"/v2/{self.path}/manifests/{tag}", body=data,
                                       headers={"Content-Type": media_type}) as resp:
            if resp.status not in (200, 201):
                raise registry_error(resp.status, await resp.read(), resp.reason or "")
        return sha256_digest(data)

