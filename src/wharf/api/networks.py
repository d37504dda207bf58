"""Network routes of the Engine API (``docker network ls/inspect/create/rm/prune/connect/disconnect``)."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from wharf.api import params
from wharf.api.params import json_body, json_response
from wharf.engine import filters as flt
from wharf.engine.networks import LIST_FILTERS

routes = web.RouteTableDef()


def _engine(request: web.Request) -> Any:
    return params.engine(request)


@routes.get("/networks")
async def list_networks(request: web.Request) -> web.Response:
    filters = flt.parse(request.query.get("filters"), LIST_FILTERS)
    return json_response(await _engine(request).networks.list(filters))


@routes.get("/networks/{id}")
async def inspect(request: web.Request) -> web.Response:
    networks = _engine(request).networks
    return json_response(networks.public(networks.get(request.match_info["id"])))


@routes.post("/networks/create")
async def create(request: web.Request) -> web.Response:
    body = await json_body(request)
    return json_response(await _engine(request).networks.create(body), status=201)


@routes.delete("/networks/{id}")
async def remove(request: web.Request) -> web.Response:
    await _engine(request).networks.remove(request.match_info["id"])
    return web.Response(status=204)


@routes.post("/networks/prune")
async def prune(request: web.Request) -> web.Response:
    filters = flt.parse(request.query.get("filters"), ("until", "label", "label!"))
    return json_response(await _engine(request).networks.prune(filters))


@routes.post("/networks/{id}/connect")
async def connect(request: web.Request) -> web.Response:
    body = await json_body(request)
    engine = _engine(request)
    container = engine.containers.get(body.get("Container") or "")
    await engine.networks.connect(request.match_info["id"], container,
                                  body.get("EndpointConfig"))
    return web.Response(status=200)


@routes.post("/networks/{id}/disconnect")
async def disconnect(request: web.Request) -> web.Response:
    body = await json_body(request)
    engine = _engine(request)
    container = engine.containers.get(body.get("Container") or "")
    await engine.networks.disconnect(request.match_info["id"], container,
                                     bool(body.get("Force")))
    return web.Response(status=200)
