"""Registry routes of the Engine API: pull, push, login, distribution inspect.

Pull and push answer with a stream of Docker's JSON progress messages. The
stream starts with the first message: a failure before it (a bad
reference, an unknown tag, an unreachable registry) is an ordinary error
answer with its status, as dockerd gives it; a failure after it is the last
message, ``{"errorDetail": ..., "error": ...}``. A client that goes away
cancels the operation.
"""

from __future__ import annotations

import asyncio
import json
import weakref
from typing import Any, Awaitable, Callable

from aiohttp import web

from wharf.api import images
from wharf.api.params import engine, json_body, json_response
from wharf.engine.distribution import DistributionService
from wharf.errors import InvalidParameter, describe
from wharf.registry.client.auth import AuthConfig
from wharf.registry.client.progress import Emit, error

routes = web.RouteTableDef()
_services: "weakref.WeakKeyDictionary[Any, DistributionService]" = weakref.WeakKeyDictionary()
_DONE = object()


def service(request: web.Request) -> DistributionService:
    """The engine's distribution service, made on first use."""
    eng = engine(request)
    found = getattr(eng, "distribution", None) or _services.get(eng)
    if found is None:
        found = _services[eng] = DistributionService(eng.config, eng.images, eng.events)
    return found


def registry_auth(request: web.Request) -> AuthConfig:
    return AuthConfig.from_header(request.headers.get("X-Registry-Auth"))


async def stream(request: web.Request, job: Callable[[Emit], Awaitable[None]]) -> web.StreamResponse:
    """Run ``job``, streaming what it emits as JSON lines once it emits anything."""
    queue: asyncio.Queue[Any] = asyncio.Queue()
    task = asyncio.create_task(job(queue.put_nowait))
    task.add_done_callback(lambda _: queue.put_nowait(_DONE))
    response: web.StreamResponse | None = None
    try:
        while (message := await queue.get()) is not _DONE:
            if response is None:
                response = web.StreamResponse(headers={"Content-Type": "application/json"})
                await response.prepare(request)
            await response.write(json.dumps(message, separators=(",", ":")).encode() + b"\r\n")
    except (ConnectionError, asyncio.CancelledError):
        task.cancel()
        raise
    failure = task.exception()
    if failure is not None:
        if response is None:
            raise failure
        await response.write(json.dumps(error(describe(failure)), separators=(",", ":")).encode() + b"\r\n")
    if response is None:
        return web.Response(status=200, content_type="application/json")
    await response.write_eof()
    return response


@routes.post("/images/create")
async def create(request: web.Request) -> web.StreamResponse:
    """``POST /images/create``: a pull (``fromImage``) here, an import to the image routes.

    Registered ahead of ``wharf.api.images``; goes once its ``create_image``
    hands ``fromImage`` requests to ``pull``.
    """
    if "fromImage" not in request.query:
        return await images.create_image(request)
    return await pull(request)


async def pull(request: web.Request) -> web.StreamResponse:
    """``POST /images/create?fromImage=``."""
    q = request.query
    svc, auth = service(request), registry_auth(request)
    return await stream(request, lambda emit: svc.pull(q.get("fromImage", ""), q.get("tag", ""),
                                                       q.get("platform", ""), auth, emit))


@routes.post("/images/{name:.+}/push")
async def push(request: web.Request) -> web.StreamResponse:
    svc, auth = service(request), registry_auth(request)
    name, tag = request.match_info["name"], request.query.get("tag", "")
    return await stream(request, lambda emit: svc.push(name, tag, auth, emit))


@routes.post("/auth")
async def auth(request: web.Request) -> web.Response:
    body = await json_body(request)
    if not isinstance(body, dict):
        raise InvalidParameter("invalid JSON: the body must be an auth config object")
    return json_response(await service(request).login(AuthConfig.from_json(body)))


@routes.get("/distribution/{name:.+}/json")
async def distribution_inspect(request: web.Request) -> web.Response:
    return json_response(await service(request).inspect(request.match_info["name"], registry_auth(request)))
