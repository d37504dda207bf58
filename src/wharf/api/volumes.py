"""Volume routes of the Engine API: create, list, inspect, remove, prune."""

from __future__ import annotations

from aiohttp import web

from wharf.api import versions
from wharf.api.params import boolean, engine, json_body, json_response
from wharf.engine import filters as flt
from wharf.engine.volumes import LIST_FILTERS, PRUNE_FILTERS
from wharf.errors import InvalidParameter

routes = web.RouteTableDef()


@routes.get("/volumes")
async def list_volumes(request: web.Request) -> web.Response:
    filters = flt.parse(request.query.get("filters"), LIST_FILTERS)
    return json_response(await engine(request).volumes.list(filters))


@routes.post("/volumes/create")
async def create_volume(request: web.Request) -> web.Response:
    body = await json_body(request)
    if not isinstance(body, dict):
        raise InvalidParameter("invalid JSON: the body must be an object")
    volume = await engine(request).volumes.create(
        name=body.get("Name") or "", driver=body.get("Driver") or "",
        options=body.get("DriverOpts") or {}, labels=body.get("Labels") or {})
    return json_response(volume, status=201)


@routes.post("/volumes/prune")
async def prune_volumes(request: web.Request) -> web.Response:
    filters = flt.parse(request.query.get("filters"), PRUNE_FILTERS)
    if versions.at_least(request, "1.42"):
        filters.setdefault("all", ["false"])  # API 1.42: named volumes only with all=true
    return json_response(await engine(request).volumes.prune(filters))


@routes.get("/volumes/{name}")
async def inspect_volume(request: web.Request) -> web.Response:
    return json_response(await engine(request).volumes.inspect(request.match_info["name"]))


@routes.delete("/volumes/{name}")
async def remove_volume(request: web.Request) -> web.Response:
    await engine(request).volumes.remove(request.match_info["name"],
                                         force=boolean(request, "force"))
    return web.Response(status=204)
