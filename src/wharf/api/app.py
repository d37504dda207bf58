"""The Engine API application: versioned paths, Docker's headers and error
bodies around the route modules.

Every route is served both as ``/path`` and ``/v{X.Y}/path``; a version outside
the ones we speak is refused as dockerd refuses it (``wharf.api.versions``), so
clients negotiate down.
Whatever goes wrong inside a handler reaches the client as ``{"message"}``
with the status the error carries, never as a traceback or a Python repr
(an unhandled ``OSError`` is a 500 in Go's words: ``/path: no space left
on device``).
"""

from __future__ import annotations

import logging
from typing import Any, Awaitable, Callable

from aiohttp import web

from wharf.api import (archive, build, containers, distribution, exec as exec_routes, images, layers,
                       networks, swarm, system, versions, volumes)
from wharf.api.params import ENGINE, JSON_BODY_LIMIT, json_response
from wharf.api.system import SERVER_VERSION
from wharf.api.versions import API_VERSION
from wharf.errors import WharfError, describe

SERVER_HEADER = f"Docker/{SERVER_VERSION} (linux)"

log = logging.getLogger("wharf.api")
#: set on a request once its answer's headers are made
_STARTED: web.RequestKey[bool] = web.RequestKey("answer_started", bool)
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _cut_begun_answer(request: web.Request) -> bool:
    """Close the connection if the answer to ``request`` already began: a second
    answer would land inside its body. The client then reports a cut stream
    (docker's "unexpected EOF")."""
    if not request.get(_STARTED) or request.transport is None:
        return False
    request.transport.close()
    return True


@web.middleware
async def errors_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        versions.check(request.match_info.get("api_version"))
        return await handler(request)
    except WharfError as e:
        if _cut_begun_answer(request):
            raise  # aiohttp logs it
        if e.status == 304:
            return web.Response(status=304)
        if e.status >= 500:
            log.warning("%s %s: %s", request.method, request.path, e.message)
        return json_response({"message": e.message}, status=e.status)
    except web.HTTPNotFound:
        return json_response({"message": "page not found"}, status=404)
    except web.HTTPMethodNotAllowed:
        return json_response({"message": "method not allowed"}, status=405)
    except web.HTTPException:
        raise
    except ConnectionResetError:
        raise
    except Exception as e:  # the daemon answers and lives on, whatever broke
        if _cut_begun_answer(request):
            raise  # aiohttp logs it
        log.exception("%s %s failed", request.method, request.path)
        return json_response({"message": describe(e)}, status=500)


async def _add_headers(request: web.Request, response: web.StreamResponse) -> None:
    request[_STARTED] = True
    response.headers["Api-Version"] = API_VERSION
    response.headers["Server"] = SERVER_HEADER
    response.headers["Ostype"] = "linux"
    response.headers["Docker-Experimental"] = "false"


def _add_versioned(app: web.Application, table: web.RouteTableDef) -> None:
    """Register each route at ``/path`` and ``/v{api_version}/path``."""
    for route in table:
        assert isinstance(route, web.RouteDef)
        for prefix in ("", "/v{api_version:[0-9.]+}"):
            web.RouteDef(route.method, prefix + route.path, route.handler, route.kwargs).register(app.router)


def make_app(engine: Any) -> web.Application:
    app = web.Application(middlewares=[errors_middleware], client_max_size=JSON_BODY_LIMIT,
                          handler_args={"read_bufsize": 1 << 20})  # uploads (build, load) in big reads
    app[ENGINE] = engine
    app.on_response_prepare.append(_add_headers)
    for module in (system, build, containers, archive, exec_routes, distribution, images, layers,
                   networks, volumes, swarm):
        _add_versioned(app, module.routes)
    return app
