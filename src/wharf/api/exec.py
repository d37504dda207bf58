"""Exec routes (``docker exec``): create, start (hijacked), inspect, resize."""

from __future__ import annotations

from aiohttp import web

from wharf.api import params
from wharf.api.containers import relay
from wharf.api.params import integer, json_body, json_response
from wharf.api.streams import hijack

routes = web.RouteTableDef()


@routes.post("/containers/{id}/exec")
async def create(request: web.Request) -> web.Response:
    body = await json_body(request)
    exec_id = params.engine(request).execs.create(request.match_info["id"], body)
    return json_response({"Id": exec_id}, status=201)


@routes.post("/exec/{id}/start")
async def start(request: web.Request) -> web.StreamResponse:
    body = await json_body(request)
    execs = params.engine(request).execs
    ex, reader, writer = await execs.start(request.match_info["id"])
    tty = bool(body.get("Tty", ex.tty)) if isinstance(body, dict) else ex.tty
    if isinstance(body, dict) and body.get("Detach"):
        execs.track(ex, reader, writer)
        return web.Response(status=200)
    client = await hijack(request, multiplexed=not tty)
    control = None
    try:
        control = await relay(client, reader, writer, tty, bool(ex.body.get("AttachStdin")))
    finally:
        execs.finished(ex, int((control or {}).get("exit_code", 126)))
    return client.response


@routes.get("/exec/{id}/json")
async def inspect(request: web.Request) -> web.Response:
    return json_response(params.engine(request).execs.get(request.match_info["id"]).inspect())


@routes.post("/exec/{id}/resize")
async def resize(request: web.Request) -> web.Response:
    await params.engine(request).execs.resize(request.match_info["id"], integer(request, "h", 0),
                                               integer(request, "w", 0))
    return web.Response(status=200)
