"""Exec routes (``docker exec``): create, start (hijacked), inspect, resize."""

from __future__ import annotations

import asyncio
from typing import Any

from aiohttp import web

from wharf.api import params, versions
from wharf.api.containers import relay
from wharf.api.params import integer, json_body, json_response
from wharf.api.streams import hijack
from wharf.engine.execs import Exec, ExecService
from wharf.errors import InvalidParameter, WharfError
from wharf.shim.frames import frame

routes = web.RouteTableDef()


def _console_size(request: web.Request, body: dict[str, Any]) -> None:
    """``ConsoleSize`` ([height, width] of an exec's tty) exists from API 1.42."""
    if not versions.at_least(request, "1.42"):
        body.pop("ConsoleSize", None)
    size = body.get("ConsoleSize")
    if size is not None and not (isinstance(size, list) and len(size) == 2
                                 and all(isinstance(n, int) and n >= 0 for n in size)):
        raise InvalidParameter(f"invalid ConsoleSize {size!r}: want [height, width]")


@routes.post("/containers/{id}/exec")
async def create(request: web.Request) -> web.Response:
    body = await json_body(request)
    if isinstance(body, dict):
        _console_size(request, body)
    exec_id = params.engine(request).execs.create(request.match_info["id"], body)
    return json_response({"Id": exec_id}, status=201)


@routes.post("/exec/{id}/start")
async def start(request: web.Request) -> web.StreamResponse:
    """Like dockerd: refusals (404, 409) as answers, then the hijack, and a process
    that cannot start is reported in the stream (its exit code in ``/exec/{id}/json``)."""
    body = await json_body(request)
    if not isinstance(body, dict):
        raise InvalidParameter("invalid JSON: the body must be an object")
    execs = params.engine(request).execs
    ex = execs.startable(request.match_info["id"])
    _console_size(request, body)
    if body.get("ConsoleSize"):  # the start's, where the client knows its terminal by now
        ex.body["ConsoleSize"] = body["ConsoleSize"]
    if body.get("Detach"):
        execs.track(ex, *await execs.start(ex))
        return web.Response(status=200)
    tty = bool(body.get("Tty", ex.tty))
    # The process starts while the client reads the upgrade answer (``hijack`` waits
    # for that): its output waits in the shim stream until the relay begins.
    starting = asyncio.ensure_future(execs.start(ex))
    try:
        client = await hijack(request, multiplexed=not tty)
    except BaseException:
        _track_once_started(execs, ex, starting)
        raise
    try:
        reader, writer = await starting
    except WharfError as e:
        message = e.message.encode() + b"\r\n"
        await client.write(message if tty else frame(1, message))
        return client.response
    control, detached = await relay(client, reader, writer, tty, bool(ex.body.get("AttachStdin")),
                                    detach_keys=ex.detach_keys)
    if detached:
        execs.detached(ex)
    if control is None:  # the client left first: learn the exit code in the background
        execs.track(ex, reader, writer)
    else:
        writer.close()
        execs.finished(ex, int(control.get("exit_code", 126)))
    return client.response


def _track_once_started(execs: ExecService, ex: Exec, starting: asyncio.Future[Any]) -> None:
    """The client left before the upgrade: a process that started runs on, and its
    exit code is still learnt (as when the client leaves later)."""
    def started(task: asyncio.Future[Any]) -> None:
        if not task.cancelled() and task.exception() is None:
            execs.track(ex, *task.result())
    starting.add_done_callback(started)


@routes.get("/exec/{id}/json")
async def inspect(request: web.Request) -> web.Response:
    return json_response(params.engine(request).execs.get(request.match_info["id"]).inspect())


@routes.post("/exec/{id}/resize")
async def resize(request: web.Request) -> web.Response:
    await params.engine(request).execs.resize(request.match_info["id"], integer(request, "h", 0),
                                               integer(request, "w", 0))
    return web.Response(status=200)
