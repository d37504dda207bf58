"""Routes that read a container's layers: ``commit``, ``export``, ``changes``,
and ``system df`` (the disk used by images, containers and their layers)."""

from __future__ import annotations

import contextlib
from collections import Counter
from typing import Any

from aiohttp import web

from wharf.api import versions
from wharf.api.blocking_io import response_writer
from wharf.api.params import boolean, engine, json_body, json_response
from wharf.errors import Conflict, InvalidParameter

routes = web.RouteTableDef()
#: ``GET /system/df?type=``'s values
DF_TYPES = ("container", "image", "volume", "build-cache")


@routes.post("/commit")
async def commit(request: web.Request) -> web.Response:
    """Pause (unless ``pause=0``) while the writable layer is read, as Docker does."""
    eng = engine(request)
    c = eng.containers.get(request.query.get("container", ""))
    q = request.query
    config = await json_body(request)
    paused_here = boolean(request, "pause", True) and c.running and not c.state["Paused"]
    if paused_here:
        try:
            await eng.containers.pause(c.id)
        except Conflict:  # it exited (or was paused) meanwhile: its layer holds still anyway
            paused_here = False
    try:
        image_id = await eng.images.commit(
            c.id, c.record["Image"], c.record["Config"], config, repo=q.get("repo", ""), tag=q.get("tag", ""),
            comment=q.get("comment", ""), author=q.get("author", ""), changes=q.getall("changes", []))
    finally:
        if paused_here:
            with contextlib.suppress(Conflict):  # an exit while paused leaves nothing paused
                await eng.containers.unpause(c.id)
    eng.events.publish("container", "commit", c.id, {**c.event_attributes(), "imageID": image_id,
                                                     "comment": q.get("comment", "")})
    return json_response({"Id": image_id}, status=201)


@routes.get("/containers/{id}/export")
async def export(request: web.Request) -> web.StreamResponse:
    eng = engine(request)
    c = eng.containers.get(request.match_info["id"])
    out = response_writer(request, "application/x-tar")
    await eng.images.export(c.id, out)
    eng.events.publish("container", "export", c.id, c.event_attributes())
    return await out.finish()


@routes.get("/containers/{id}/changes")
async def changes(request: web.Request) -> web.Response:
    eng = engine(request)
    c = eng.containers.get(request.match_info["id"])
    return json_response(await eng.images.changes(c.id) or None)


@routes.get("/system/df")
async def disk_usage(request: web.Request) -> web.Response:
    """Every kind of object's usage; from API 1.42 only the kinds ``type`` names (the
    others null), so a client that wants volumes does not pay for containers."""
    eng = engine(request)
    wanted = set(DF_TYPES)
    if versions.at_least(request, "1.42") and "type" in request.query:
        wanted = set(request.query.getall("type"))
        if unknown := wanted - set(DF_TYPES):
            raise InvalidParameter(f"unknown object type: {sorted(unknown)[0]}")
    out: dict[str, Any] = {"Images": None, "Containers": None, "Volumes": None, "BuildCache": None}
    containers = (await eng.containers.list(all=True, size="container" in wanted)
                  if wanted & {"container", "image"} else [])
    if "image" in wanted:
        out.update(await eng.images.disk_usage(Counter(c["ImageID"] for c in containers)))
    if "container" in wanted:
        out["Containers"] = containers
    if "volume" in wanted:
        out["Volumes"] = await eng.volumes.disk_usage()
    if "build-cache" in wanted:
        out["BuildCache"] = []
    return json_response(out)
