"""DistributionService: pull, push, login and registry inspection for the API.

It turns the API's parameters into references, opens one HTTP client
session per operation, and runs ``wharf.registry.client``'s puller and
pusher over the engine's image store (under the image service's lock),
publishing Docker's image events. Progress goes to ``emit`` (one Docker
JSON message per call); the API streams it. State of its own lives in
``{data_root}/distribution``: ``downloads/`` (layers being fetched, cleared
at start) and ``sources/`` (where each layer is known to live in registries).
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from typing import Any, Awaitable, Callable, TypeVar

import aiohttp

from wharf.config import DaemonConfig
from wharf.engine.events import EventBus
from wharf.engine.images import ImageService
from wharf.engine.timefmt import rfc3339nano
from wharf.errors import InvalidParameter, NotFound, Unauthorized, WharfError, describe
from wharf.image import manifest as mf
from wharf.image import reference
from wharf.image.reference import Reference
from wharf.registry.client.auth import AuthConfig, TokenCache
from wharf.registry.client.certs import reach
from wharf.registry.client.endpoints import Endpoint, Policy, domain_of, pull_endpoints, registry_host
from wharf.registry.client.hosts import pull_hosts
from wharf.registry.client.progress import Emit, status
from wharf.registry.client.pull import Puller, config_platform
from wharf.registry.client.push import Pusher
from wharf.registry.client.repository import Fetched, Repository
from wharf.registry.client.session import Session, open_http
from wharf.registry.client.sources import BlobSources

_DIGEST_PREFIX = "sha256:"
log = logging.getLogger("wharf.distribution")
T = TypeVar("T")


def _now() -> str:
    return rfc3339nano(time.time_ns())


def pull_reference(image: str, tag: str) -> tuple[Reference, bool]:
    """(reference, all tags?) from ``fromImage`` and ``tag`` as dockerd reads them."""
    if not image:
        raise InvalidParameter("fromImage is required to pull an image")
    ref = reference.parse(image)
    if tag:
        if tag.startswith(_DIGEST_PREFIX):
            return reference.parse(f"{ref.name}@{tag}"), False
        return ref.with_tag(tag), False
    return ref, ref.tag is None and ref.digest is None


def parse_platform(text: str) -> dict[str, str] | None:
    """``linux/amd64[/v8]`` → ``{"os", "architecture"[, "variant"]}``; "" → None (this host)."""
    if not text:
        return None
    parts = text.lower().split("/")
    if len(parts) > 3 or not all(parts):
        raise InvalidParameter(f'"{text}": unknown operating system or architecture: invalid argument')
    if len(parts) == 1:
        parts = ["linux", parts[0]] if parts[0] != "linux" else ["linux", mf.host_arch()]
    return dict(zip(("os", "architecture", "variant"), parts))


class DistributionService:
    def __init__(self, config: DaemonConfig, images: ImageService, events: EventBus) -> None:
        self.images = images
        self.store = images.store
        self.events = events
        self.sources = BlobSources(os.path.join(config.data_root, "distribution", "sources"))
        self.config = config
        self.tokens = TokenCache()
        self.schemes: dict[str, str] = {}

    def _session(self, http: Any, domain: str, auth: AuthConfig,
                 endpoint: Endpoint | None = None) -> Session:
        endpoint = endpoint or Endpoint(registry_host(domain))
        # insecure-registries as they are now (SIGHUP may have changed them), and the
        # host's certs.d files as they are now (no restart)
        policy = Policy(self.config.insecure_registries)
        return Session(http, endpoint.host, auth, reach(self.config.certs_dir, endpoint, policy),
                       self.tokens, self.schemes)

    async def _from_pull_endpoint(self, http: Any, ref: Reference, auth: AuthConfig,
                                  fetch: Callable[[Repository], Awaitable[T]]) -> T:
        """``fetch`` from the first of ``ref``'s pull endpoints that serves it. A mirror
        that fails (down, or without the image) hands the pull on to the next endpoint,
        as dockerd's does; the last endpoint's error is the pull's."""
        # a registry's hosts.toml (read now: no restart), else dockerd's mirrors
        *mirrors, last = (pull_hosts(self.config.certs_dir, ref.domain)
                          or pull_endpoints(ref.domain, self.config.registry_mirrors))
        for endpoint in mirrors:
            try:
                return await fetch(Repository(self._session(http, ref.domain, auth, endpoint), ref.path))
            except (WharfError, aiohttp.ClientError, asyncio.TimeoutError) as e:
                log.info("Attempting next endpoint for pull after error: %s", describe(e))
        return await fetch(Repository(self._session(http, ref.domain, auth, last), ref.path))

    def _locked(self, fn: Any) -> Any:
        return self.images._locked(fn)  # the image service's one lock guards the store

    # -- pull ----------------------------------------------------------------
    async def pull(self, image: str, tag: str, platform: str, auth: AuthConfig, emit: Emit) -> None:
        """``POST /images/create?fromImage=``: one tag, one digest, or every tag."""
        ref, all_tags = pull_reference(image, tag)
        wanted = parse_platform(platform)
        puller = Puller(self.store, self._locked, emit, self.sources, _now,
                        self.config.max_concurrent_downloads)  # as it is now: SIGHUP may change it

        async def pull_from(repo: Repository) -> bool:
            refs = [ref.with_tag(t) for t in sorted(await repo.tags())] if all_tags else [ref]
            if not refs:
                raise NotFound(f"no tags found for {ref.familiar()}")
            updated = False
            for one in refs:
                pulled = await puller.pull(repo, one, wanted)
                updated = updated or pulled.tag_updated
                self.events.publish("image", "pull", one.familiar(), {"name": one.familiar()})
            return updated

        async with open_http() as http:
            updated = await self._from_pull_endpoint(http, ref, auth, pull_from)
        shown = ref.familiar_name if all_tags else ref.familiar()
        emit(status(f"Status: {'Downloaded newer image' if updated else 'Image is up to date'} for {shown}"))

    # -- push ----------------------------------------------------------------
    async def push(self, name: str, tag: str, auth: AuthConfig, emit: Emit) -> None:
        """``POST /images/{name}/push``: one tag, or (no tag) every tag of the repository."""
        ref = reference.parse(name)
        if ref.digest:
            raise InvalidParameter("cannot push a digest reference")
        if tag:
            ref = ref.with_tag(tag)
        targets = await self._locked(lambda: self._tagged(ref))
        if not targets:
            raise NotFound(f"An image does not exist locally with the tag: {ref.familiar()}")
        emit(status(f"The push refers to repository [{ref.name}]"))
        pusher = Pusher(self.store, self._locked, emit, self.sources, self.config.max_concurrent_uploads)
        async with open_http() as http:
            repo = Repository(self._session(http, ref.domain, auth), ref.path, push=True)
            for target, image_id in targets:
                await pusher.push(repo, target, image_id)
                self.events.publish("image", "push", target.familiar(), {"name": target.familiar()})

    def _tagged(self, ref: Reference) -> list[tuple[Reference, str]]:
        """(tag reference, image ID) of ``ref``'s tag, or of every tag of its repository."""
        if ref.tag:
            image_id = self.store.refs.get(ref)
            return [(ref, image_id)] if image_id else []
        return sorted(((r, i) for i in self.store.ids() for r in self.store.refs.references(i)
                       if r.name == ref.name and r.tag), key=lambda pair: str(pair[0]))

    # -- login and inspect ---------------------------------------------------
    async def login(self, auth: AuthConfig) -> dict[str, str]:
        """``POST /auth``: check the credentials the way the registry's challenge asks."""
        async with open_http() as http:
            session = self._session(http, domain_of(auth.serveraddress), auth)
            await session.ping()
            challenge = session.challenge
            if challenge is not None and challenge.scheme == "bearer":
                if not auth.username and not auth.identitytoken:
                    raise Unauthorized("unauthorized: a username is required")
                await session.token(challenge, [])
            elif challenge is not None:
                async with await session.request("GET", "/v2/", []) as resp:
                    if resp.status == 401:
                        raise Unauthorized("unauthorized: incorrect username or password")
        return {"Status": "Login Succeeded", "IdentityToken": ""}

    async def inspect(self, name: str, auth: AuthConfig) -> dict[str, Any]:
        """``GET /distribution/{name}/json``: the descriptor a reference names and its platforms."""
        ref = reference.parse_tagged(name)

        async def describe_in(repo: Repository) -> tuple[Fetched, list[dict[str, str]]]:
            try:
                top = await repo.manifest(ref.digest or ref.tag or "latest")
            except NotFound as e:
                raise NotFound(f"manifest for {ref.familiar()} not found: {e.message}") from None
            doc = top.json()
            if mf.kind(doc, top.media_type) == "index":
                return top, [e.platform for e in mf.parse_index(doc) if e.platform]
            return top, [config_platform(await repo.blob(mf.parse_manifest(doc).config))]

        async with open_http() as http:
            top, platforms = await self._from_pull_endpoint(http, ref, auth, describe_in)
        doc = top.json()
        media_type = top.media_type or doc.get("mediaType", "")
        return {"Descriptor": {"mediaType": media_type, "digest": top.digest, "size": len(top.data)},
                "Platforms": platforms}
