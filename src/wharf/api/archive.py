"""``/containers/{id}/archive`` (``docker cp``): HEAD stats a path, GET sends it
as a tar, PUT unpacks a tar into a directory; all through
``wharf.engine.archive``, which never leaves the container's root.

Archives pass through a temporary file: the kernel work is synchronous and
off the loop, the HTTP side async, and a failure is known before a status
line goes out.
"""

from __future__ import annotations

import asyncio
import tempfile
from typing import Any

from aiohttp import web

from wharf.api import params
from wharf.engine import archive
from wharf.errors import InvalidParameter

routes = web.RouteTableDef()
_CHUNK = 1 << 20


def _path(request: web.Request) -> str:
    path = request.query.get("path", "")
    if not path:
        raise InvalidParameter("bad parameter: path cannot be empty")
    return path


async def _in_root(request: web.Request, work: Any, *args: Any) -> Any:
    """Run ``work(rootfd, path, cid, *args)`` in a thread, with Docker's errors."""
    path = _path(request)
    async with archive.container_root(params.engine(request), request.match_info["id"]) as (fd, cid):
        try:
            return await asyncio.to_thread(work, fd, path, cid, *args)
        except OSError as e:
            raise archive.os_error(e, path, cid) from None


@routes.head("/containers/{id}/archive")
async def head(request: web.Request) -> web.Response:
    try:
        st = await _in_root(request, archive.stat_path)
    except archive.PathNotFound:
        return web.Response(status=404)
    return web.Response(status=200, headers={archive.STAT_HEADER: archive.encode_stat(st)})


@routes.get("/containers/{id}/archive")
async def get(request: web.Request) -> web.StreamResponse:
    spool = tempfile.TemporaryFile()
    try:
        def build(fd: int, path: str, cid: str) -> dict[str, Any]:
            st = archive.stat_path(fd, path, cid)
            archive.write_archive(fd, path, cid, spool)
            spool.seek(0)
            return st

        st = await _in_root(request, build)
        resp = web.StreamResponse(headers={"Content-Type": "application/x-tar",
                                           archive.STAT_HEADER: archive.encode_stat(st)})
        await resp.prepare(request)
        while chunk := await asyncio.to_thread(spool.read, _CHUNK):
            await resp.write(chunk)
        await resp.write_eof()
        return resp
    finally:
        spool.close()


@routes.put("/containers/{id}/archive")
async def put(request: web.Request) -> web.Response:
    strict = params.boolean(request, "noOverwriteDirNonDir")
    spool = tempfile.TemporaryFile()
    try:
        while chunk := await request.content.read(_CHUNK):
            await asyncio.to_thread(spool.write, chunk)
        spool.seek(0)
        await _in_root(request, archive.extract_archive, spool, strict)
    finally:
        spool.close()
    return web.Response(status=200)
