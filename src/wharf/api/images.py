"""Image routes of the Engine API: list, inspect, remove, tag, import.

``{name}`` may hold slashes (``localhost:5000/ns/app:1``), so the routes
match it with ``.+``. An import's body is read by the store in a thread,
straight from the socket (``_BodyReader``), never spooled whole in memory.
"""

from __future__ import annotations

import asyncio
import json

from aiohttp import web

from wharf.api.params import boolean, engine, json_response
from wharf.engine import filters as flt
from wharf.engine.images import LIST_FILTERS
from wharf.errors import InvalidParameter

routes = web.RouteTableDef()
_CHUNK = 1 << 16


class _BodyReader:
    """A blocking ``read(n)`` over the request body, for code running in a thread."""

    def __init__(self, request: web.Request, loop: asyncio.AbstractEventLoop) -> None:
        self._content = request.content
        self._loop = loop

    async def _read(self, n: int) -> bytes:
        parts: list[bytes] = []
        while n != 0:
            chunk = await self._content.read(n if n > 0 else _CHUNK)
            if not chunk:
                break
            parts.append(chunk)
            n = n - len(chunk) if n > 0 else n
        return b"".join(parts)

    def read(self, n: int = -1) -> bytes:
        return asyncio.run_coroutine_threadsafe(self._read(n), self._loop).result()


@routes.get("/images/json")
async def list_images(request: web.Request) -> web.Response:
    filters = flt.parse(request.query.get("filters"), LIST_FILTERS)
    images = await engine(request).images.list(all=boolean(request, "all"), filters=filters)
    return json_response(images)


@routes.get("/images/{name:.+}/json")
async def inspect_image(request: web.Request) -> web.Response:
    return json_response(await engine(request).images.inspect(request.match_info["name"]))


@routes.delete("/images/{name:.+}")
async def delete_image(request: web.Request) -> web.Response:
    eng = engine(request)
    records = await eng.images.delete(request.match_info["name"], force=boolean(request, "force"),
                                      noprune=boolean(request, "noprune"),
                                      containers_using=eng.containers.using_image)
    return json_response(records)


@routes.post("/images/{name:.+}/tag")
async def tag_image(request: web.Request) -> web.Response:
    repo = request.query.get("repo", "")
    if not repo:
        raise InvalidParameter("repository name must have at least one component")
    await engine(request).images.tag(request.match_info["name"], repo, request.query.get("tag", ""))
    return web.Response(status=201)


@routes.post("/images/create")
async def create_image(request: web.Request) -> web.StreamResponse:
    """Import (``fromSrc=-``); pulling (``fromImage``) belongs to the registry client."""
    src = request.query.get("fromSrc")
    if src != "-":
        raise InvalidParameter("only importing from the request body (fromSrc=-) is supported"
                               if src else "pulling images is not supported yet")
    image_id = await engine(request).images.import_tar(
        _BodyReader(request, asyncio.get_running_loop()),
        repo=request.query.get("repo", ""), tag=request.query.get("tag", ""),
        changes=request.query.getall("changes", []), message=request.query.get("message", ""))
    response = web.StreamResponse(headers={"Content-Type": "application/json"})
    await response.prepare(request)
    await response.write(json.dumps({"status": image_id}).encode() + b"\r\n")
    await response.write_eof()
    return response
