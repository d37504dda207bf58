"""The image routes over HTTP, with the real ImageService on a temp store."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from unit.image.image_tars import make_tar
from wharf.api import images
from wharf.api.params import ENGINE
from wharf.config import DaemonConfig
from wharf.engine.events import EventBus
from wharf.engine.images import ContainerUse, ImageService
from wharf.errors import WharfError


@web.middleware
async def errors(request: web.Request, handler: Any) -> web.StreamResponse:
    try:
        return await handler(request)
    except WharfError as e:
        return web.json_response({"message": e.message}, status=e.status)


def scenario(tmp_path: Path, body: Any) -> Any:
    async def go() -> Any:
        users: list[ContainerUse] = []
        engine = SimpleNamespace(images=ImageService(DaemonConfig(data_root=str(tmp_path)), EventBus()),
                                 containers=SimpleNamespace(using_image=lambda image_id: users))
        app = web.Application(middlewares=[errors])
        app[ENGINE] = engine
        app.add_routes(images.routes)
        async with TestClient(TestServer(app)) as client:
            return await body(client, users)
    return asyncio.run(go())


def test_import_tag_list_inspect_delete(tmp_path: Path) -> None:
    async def body(client: TestClient, users: list[ContainerUse]) -> None:
        resp = await client.post("/images/create", data=make_tar(("file", "hello", "hi")), params=[
            ("fromSrc", "-"), ("repo", "localhost:5000/team/app:v1"),
            ("changes", 'CMD ["/hello"]'), ("changes", "ENV A=1")])
        assert resp.status == 200
        image_id = json.loads((await resp.read()).splitlines()[-1])["status"]

        resp = await client.get("/images/localhost:5000/team/app:v1/json")
        info = await resp.json()
        assert (info["Id"], info["Config"]["Cmd"], info["Config"]["Env"]) == (image_id, ["/hello"], ["A=1"])

        resp = await client.post("/images/localhost:5000/team/app:v1/tag", params={"repo": "app"})
        assert resp.status == 201
        listed = await (await client.get("/images/json")).json()
        assert listed[0]["RepoTags"] == ["app:latest", "localhost:5000/team/app:v1"]
        assert listed[0]["Size"] == 2

        users.append(ContainerUse("f" * 64, True))
        resp = await client.delete(f"/images/{image_id}", params={"force": "1"})
        assert resp.status == 409
        assert "(cannot be forced) - image is being used by running container ffffffffffff" in (
            await resp.json())["message"]
        users.clear()
        resp = await client.delete(f"/images/{image_id}", params={"force": "1"})
        assert [list(r.values())[0] for r in await resp.json()][:3] == [
            "app:latest", "localhost:5000/team/app:v1", image_id]

        resp = await client.get("/images/app/json")
        assert (resp.status, await resp.json()) == (404, {"message": "No such image: app:latest"})
    scenario(tmp_path, body)


def test_bad_imports_are_400s(tmp_path: Path) -> None:
    async def body(client: TestClient, users: list[ContainerUse]) -> None:
        resp = await client.post("/images/create", data=b"garbage" * 200, params={"fromSrc": "-"})
        assert resp.status == 400 and "tar" in (await resp.json())["message"]
        resp = await client.post("/images/create", data=make_tar(("file", "../x", "")), params={"fromSrc": "-"})
        assert resp.status == 400 and "escapes the root" in (await resp.json())["message"]
        resp = await client.post("/images/create", data=b"", params={"fromSrc": "-", "repo": "Bad"})
        assert resp.status == 400 and "must be lowercase" in (await resp.json())["message"]
        assert await (await client.get("/images/json", params={"all": "1"})).json() == []
    scenario(tmp_path, body)
