"""``POST /build`` and ``POST /build/prune``: the classic builder's API.

The body is the context tar; the answer is Docker's JSON message stream
(``{"stream": "Step 1/3 : FROM busybox\\n"}``, ``{"aux": {"ID": ...}}``).
An error before the first message (a bad tag, a Dockerfile syntax error)
is an ordinary error response, as dockerd answers it; one after is an
``errorDetail`` message in the stream, with the exit code of a failed RUN
as its code. ``X-Registry-Config`` is ignored (base images are never pulled).
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

from aiohttp import web

from wharf.api.blocking_io import drain
from wharf.api.params import boolean, engine, json_response
from wharf.engine.builder import BuildOptions, StepFailed
from wharf.errors import InvalidParameter, WharfError

routes = web.RouteTableDef()


class _BodyChunks:
    """``read(n)`` for the builder's thread: up to ``n`` body bytes, as many as have arrived.

    One trip to the event loop per chunk the socket delivered, not per tar
    block, and no joining into exact sizes: the context unpacker takes
    whatever comes.
    """

    def __init__(self, request: web.Request) -> None:
        self._content, self._loop = request.content, asyncio.get_running_loop()

    def read(self, n: int) -> bytes:
        return asyncio.run_coroutine_threadsafe(self._content.read(n), self._loop).result()


def _json_map(request: web.Request, name: str) -> dict[str, Any]:
    raw = request.query.get(name)
    if not raw:
        return {}
    try:
        value = json.loads(raw)
    except ValueError:
        raise InvalidParameter(f"invalid {name} value: {raw}") from None
    if not isinstance(value, dict):
        raise InvalidParameter(f"invalid {name} value: {raw}")
    return value


def options(request: web.Request) -> BuildOptions:
    q = request.query
    if q.get("remote"):
        raise InvalidParameter("building from a remote context is not supported; send the context as a tar")
    return BuildOptions(
        tags=[t for t in q.getall("t", []) if t], dockerfile=q.get("dockerfile") or "Dockerfile",
        buildargs=_json_map(request, "buildargs"), target=q.get("target", ""),
        labels=_json_map(request, "labels"), quiet=boolean(request, "q"),
        nocache=boolean(request, "nocache"), rm=boolean(request, "rm", True),
        forcerm=boolean(request, "forcerm"), network=q.get("networkmode", ""))


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
        message = e.message if isinstance(e, WharfError) else str(e) or type(e).__name__
        detail = {"code": e.code, "message": message} if isinstance(e, StepFailed) else {"message": message}
        await emit({"errorDetail": detail, "error": message})
    await response.write_eof()
    return response


@routes.post("/build/prune")
async def prune(request: web.Request) -> web.Response:
    return json_response(engine(request).builder.prune())
