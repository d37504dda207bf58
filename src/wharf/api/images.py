"""Image routes of the Engine API: list, inspect, history, remove, tag, prune,
import, save (``get``) and load; and wharf's own ``POST /wharf/images/check``
(``wharf image check``: Docker has no such endpoint).

``{name}`` may hold slashes (``localhost:5000/ns/app:1``), so the routes
match it with ``.+``. Import and load bodies are read, and save archives
written, by the store in a thread straight from and to the socket
(``blocking_io``), never held whole in memory.
"""

from __future__ import annotations

import json
import logging

from aiohttp import web

from wharf.api.blocking_io import body_reader, drain, response_writer
from wharf.api.params import boolean, engine, json_response
from wharf.engine import filters as flt
from wharf.engine.images import LIST_FILTERS, PRUNE_FILTERS
from wharf.errors import InvalidParameter, WharfError, describe
from wharf.registry.client.progress import error

routes = web.RouteTableDef()
TAR = "application/x-tar"
log = logging.getLogger("wharf.api")


@routes.get("/images/json")
async def list_images(request: web.Request) -> web.Response:
    filters = flt.parse(request.query.get("filters"), LIST_FILTERS)
    images = await engine(request).images.list(all=boolean(request, "all"), filters=filters,
                                               shared_size=boolean(request, "shared-size"))
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
        raise InvalidParameter(f"importing from a URL is not supported (no download is made): {src}"
                               if src else "pulling images is not supported yet")
    try:
        image_id = await engine(request).images.import_tar(
            body_reader(request),
            repo=request.query.get("repo", ""), tag=request.query.get("tag", ""),
            changes=request.query.getall("changes", []), message=request.query.get("message", ""))
    except WharfError:
        await drain(request)
        raise
    return await _json_lines(request, [{"status": image_id}])


@routes.get("/images/{name:.+}/history")
async def image_history(request: web.Request) -> web.Response:
    return json_response(await engine(request).images.history(request.match_info["name"]))


@routes.post("/images/prune")
async def prune_images(request: web.Request) -> web.Response:
    eng = engine(request)
    filters = flt.parse(request.query.get("filters"), PRUNE_FILTERS)
    return json_response(await eng.images.prune(filters, containers_using=eng.containers.using_image))


@routes.post("/wharf/images/check")
async def check_images(request: web.Request) -> web.Response:
    """``{"Images": n, "Layers": n, "Problems": [text, ...]}``: 200 either way (the check ran)."""
    return json_response(await engine(request).images.check())


@routes.get("/images/get")
async def save_images(request: web.Request) -> web.StreamResponse:
    return await _save(request, request.query.getall("names", []))


@routes.get("/images/{name:.+}/get")
async def save_image(request: web.Request) -> web.StreamResponse:
    return await _save(request, [request.match_info["name"]])


async def _save(request: web.Request, names: list[str]) -> web.StreamResponse:
    out = response_writer(request, TAR)
    await engine(request).images.save(names, out)
    return await out.finish()


@routes.post("/images/load")
async def load_images(request: web.Request) -> web.StreamResponse:
    """Docker's answer (moby's postImagesLoad): always 200 and a JSON stream of
    ``{"stream": "Loaded image: ..."}`` lines, or of the error that stopped the load
    (a bad archive, a full disk) as ``{"errorDetail", "error"}``: the CLI prints it
    and exits 1."""
    try:
        loaded = await engine(request).images.load(body_reader(request))
    except Exception as e:
        if not isinstance(e, WharfError):
            log.exception("loading images failed")
        await drain(request)
        return await _json_lines(request, [error(describe(e))])
    lines = []
    for image in loaded:
        for name, old in image.replaced.items():
            lines.append(f"The image {name} already exists, renaming the old one with ID {old} to empty string\n")
        lines += [f"Loaded image: {ref.familiar()}\n" for ref in image.refs] or [f"Loaded image ID: {image.image_id}\n"]
    return await _json_lines(request, [{"stream": line} for line in lines])


async def _json_lines(request: web.Request, messages: list[dict[str, str]]) -> web.StreamResponse:
    """Docker's progress-stream shape: one JSON object per line."""
    response = web.StreamResponse(headers={"Content-Type": "application/json"})
    await response.prepare(request)
    for message in messages:
        await response.write(json.dumps(message).encode() + b"\r\n")
    await response.write_eof()
    return response
