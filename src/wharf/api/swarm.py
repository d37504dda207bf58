"""Swarm routes as a Docker that is not in a swarm answers them.

wharf has no swarm mode. Clients still call these routes: to find out
whether a node is a manager, or in their cleanup (docker-py's test teardown
calls ``POST /swarm/leave?force=1`` after every network test). dockerd, when
not in a swarm, answers each with 503 and one of two messages (moby
``daemon/cluster``'s errNoSwarm and errNoManager); so does wharf. ``init``
and ``join`` cannot succeed here and say why.
"""

from __future__ import annotations

from aiohttp import web

from wharf.api.params import json_response

routes = web.RouteTableDef()

NOT_IN_SWARM = "This node is not part of a swarm"
NOT_A_MANAGER = ('This node is not a swarm manager. Use "docker swarm init" or '
                 '"docker swarm join" to connect this node to swarm and try again.')
NO_SWARM_MODE = "wharf has no swarm mode: this node cannot init or join a swarm"


def _refuse(message: str) -> web.Response:
    """dockerd's 503, answered here rather than raised: it is this node's normal
    state, not a server error for the daemon's log (docker-py's teardown asks
    after every network test)."""
    return json_response({"message": message}, status=503)


@routes.post("/swarm/leave")
async def leave(request: web.Request) -> web.Response:
    return _refuse(NOT_IN_SWARM)


@routes.post("/swarm/init")
@routes.post("/swarm/join")
async def init_or_join(request: web.Request) -> web.Response:
    return _refuse(NO_SWARM_MODE)


@routes.put("/volumes/{name}")
async def update_volume(request: web.Request) -> web.Response:
    """API 1.42's update of a cluster (CSI) volume: only a swarm manager has them."""
    return _refuse("volume update only valid for cluster volumes, but swarm is unavailable")


#: every other swarm object's route: what only a manager can answer
_MANAGER_ONLY = (
    ("GET", "/swarm"), ("POST", "/swarm/update"), ("GET", "/swarm/unlockkey"),
    ("POST", "/swarm/unlock"),
    ("GET", "/nodes"), ("GET", "/nodes/{id}"), ("DELETE", "/nodes/{id}"),
    ("POST", "/nodes/{id}/update"),
    ("GET", "/services"), ("POST", "/services/create"), ("GET", "/services/{id}"),
    ("DELETE", "/services/{id}"), ("POST", "/services/{id}/update"),
    ("GET", "/services/{id}/logs"),
    ("GET", "/tasks"), ("GET", "/tasks/{id}"), ("GET", "/tasks/{id}/logs"),
    *((method, f"/{kind}{path}") for kind in ("secrets", "configs")
      for method, path in (("GET", ""), ("POST", "/create"), ("GET", "/{id}"),
                           ("DELETE", "/{id}"), ("POST", "/{id}/update"))),
)


async def _manager_only(request: web.Request) -> web.Response:
    return _refuse(NOT_A_MANAGER)


for _method, _path in _MANAGER_ONLY:
    routes.route(_method, _path)(_manager_only)
