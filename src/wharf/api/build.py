"""``POST /build`` and ``POST /build/prune``: the classic builder's API.

The body is the context tar; the answer is Docker's JSON message stream
(``{"stream": "Step 1/3 : FROM busybox\\n"}``, ``{"aux": {"ID": ...}}``).
An error before the first message (a bad tag, a Dockerfile syntax error)
is an ordinary error response, as dockerd answers it; one after is an
``errorDetail`` message in the stream, with the exit code of a failed RUN
as its code. A FROM or ``COPY --from`` image that is not here is pulled,
with the credentials ``X-Registry-Config`` carries for its registry.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import collections
import json
from typing import Any

from aiohttp import web

from wharf.api.blocking_io import drain, response_writer
from wharf.api.distribution import service as distribution
from wharf.api.params import boolean, engine, json_response
from wharf.engine.buildmounts import BuildSession
from wharf.engine.builder import BuildOptions, Emit, StepFailed
from wharf.errors import InvalidParameter, describe
from wharf.image import reference
from wharf.registry.client.auth import AuthConfig

routes = web.RouteTableDef()
SESSION_HEADER = "X-Wharf-Build-Session"


class _BodyChunks:
    """``read(n)`` for the builder's thread: up to ``n`` body bytes, as they arrived.

    One trip between the thread and the event loop per ``n`` bytes (the
    context reader asks for a MiB), not per socket read (at most 256 KiB):
    waking the thread and the loop for each of those cost more CPU than
    hashing the data. The pieces of a trip are handed out one by one, not
    joined (a copy of the whole context).
    """

    def __init__(self, request: web.Request) -> None:
        self._content, self._loop = request.content, asyncio.get_running_loop()
        self._pieces: collections.deque[bytes] = collections.deque()

    def read(self, n: int) -> bytes:
        if not self._pieces:
            self._pieces += asyncio.run_coroutine_threadsafe(self._gather(n), self._loop).result()
        return self._pieces.popleft() if self._pieces else b""

    async def _gather(self, n: int) -> list[bytes]:
        pieces, got = [], 0
        while got < n and (piece := await self._content.read(n - got)):
            pieces.append(piece)
            got += len(piece)
        return pieces


def _json_param(request: web.Request, name: str, kind: type) -> Any:
    """A query parameter holding JSON of ``kind`` (``buildargs``, ``labels``, ``cachefrom``)."""
    raw = request.query.get(name)
    if not raw:
        return kind()
    try:
        value = json.loads(raw)
    except ValueError:
        value = None
    if not isinstance(value, kind):
        raise InvalidParameter(f"invalid {name} value: {raw}")
    return value


def options(request: web.Request) -> BuildOptions:
    q = request.query
    if q.get("remote"):
        raise InvalidParameter("building from a remote context is not supported; send the context as a tar")
    return BuildOptions(
        tags=[t for t in q.getall("t", []) if t], dockerfile=q.get("dockerfile") or "Dockerfile",
        buildargs=_json_param(request, "buildargs", dict), target=q.get("target", ""),
        labels=_json_param(request, "labels", dict), quiet=boolean(request, "q"),
        nocache=boolean(request, "nocache"), rm=boolean(request, "rm", True),
        forcerm=boolean(request, "forcerm"), network=q.get("networkmode", ""),
        extra_hosts=q.getall("extrahosts", []), cache_from=[str(r) for r in _json_param(request, "cachefrom", list)],
        session=session(request.headers.get(SESSION_HEADER)), pull=_puller(request))


def session(header: str | None) -> BuildSession:
    """wharf's ``X-Wharf-Build-Session``: base64url JSON ``{"secrets": {id: base64 value},
    "ssh": {id: socket path}, "allow": [entitlement], "contexts": {name: "local" | "docker-image://REF"}}``.

    Docker's classic ``/build`` has no way to lend secrets or an ssh agent
    (BuildKit uses its gRPC session for that); ``wharf build`` sends them in
    this header, whose values are kept in memory only and never logged.
    """
    if not header:
        return BuildSession()
    try:
        doc = json.loads(base64.urlsafe_b64decode(header.strip() + "=" * (-len(header.strip()) % 4)))
        return BuildSession({k: base64.b64decode(v) for k, v in (doc.get("secrets") or {}).items()},
                            {k: str(v) for k, v in (doc.get("ssh") or {}).items()},
                            [str(a) for a in doc.get("allow") or []],
                            {k: str(v) for k, v in (doc.get("contexts") or {}).items()})
    except (binascii.Error, ValueError, AttributeError, TypeError):
        raise InvalidParameter(f"invalid {SESSION_HEADER} header") from None


def _puller(request: web.Request) -> Any:
    """Pull an image for the build, as ``docker pull`` would, with its registry's credentials."""
    auths = _registry_config(request.headers.get("X-Registry-Config"))

    async def pull(ref: str, platform: str, emit: Emit) -> None:
        tagged = reference.parse_tagged(ref)  # FROM busybox is busybox:latest, not every tag
        queue: asyncio.Queue[dict[str, Any] | None] = asyncio.Queue()  # the puller emits in sync
        job = asyncio.ensure_future(distribution(request).pull(
            tagged.familiar(), "", platform, auths.get(tagged.domain, AuthConfig()), queue.put_nowait))
        job.add_done_callback(lambda _: queue.put_nowait(None))
        while (message := await queue.get()) is not None:
            await emit(message)
        await job
    return pull


def _registry_config(header: str | None) -> dict[str, AuthConfig]:
    """``X-Registry-Config``: base64url JSON of {registry address: auth config}, by domain
    (``https://index.docker.io/v1/`` is docker.io's); garbage counts as none, as dockerd."""
    if not header:
        return {}
    try:
        doc = json.loads(base64.urlsafe_b64decode(header.strip() + "=" * (-len(header.strip()) % 4)))
    except (binascii.Error, ValueError):
        return {}
    out = {}
    for address, auth in doc.items() if isinstance(doc, dict) else ():
        host = address.split("://")[-1].split("/")[0]
        out["docker.io" if host in ("index.docker.io", "registry-1.docker.io") else host] = \
            AuthConfig.from_json(auth)
    return out


@routes.post("/build")
async def build(request: web.Request) -> web.StreamResponse:
    response = web.StreamResponse(headers={"Content-Type": "application/json"})

    async def emit(message: dict[str, Any]) -> None:
        if not response.prepared:
            await response.prepare(request)
        await response.write(json.dumps(message).encode() + b"\r\n")

    try:
        await engine(request).builder.build(_BodyChunks(request), options(request), emit)
    except Exception as e:
        await drain(request)
        if not response.prepared:
            raise
        message = describe(e)
        detail = {"code": e.code, "message": message} if isinstance(e, StepFailed) else {"message": message}
        await emit({"errorDetail": detail, "error": message})
    await response.write_eof()
    return response


@routes.get("/wharf/images/{name:.+}/rootfs")
async def rootfs(request: web.Request) -> web.StreamResponse:
    """wharf's own: an image's merged filesystem as a tar (``wharf build --output``)."""
    out = response_writer(request, "application/x-tar")
    await engine(request).builder.export_rootfs(request.match_info["name"], out)
    return await out.finish()


@routes.post("/build/prune")
async def prune(request: web.Request) -> web.Response:
    return json_response(engine(request).builder.prune())
