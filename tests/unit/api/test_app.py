"""The API shell: versioned paths, Docker's headers, and errors as {"message"}."""

import asyncio
import errno

from aiohttp.test_utils import TestClient, TestServer

from wharf.api.app import make_app
from wharf.errors import Conflict, NotFound, NotModified, describe


class _Containers:
    def get(self, ref):
        raise NotFound(f"No such container: {ref}")

    async def start(self, ref):
        if ref == "running":
            raise NotModified("container already started")
        if ref == "boom":
            raise RuntimeError("disk on fire")
        if ref == "full":
            raise OSError(errno.ENOSPC, "No space left on device", "/var/lib/wharf/image/rw/x/upper/log")
        raise Conflict("cannot start a paused container, try unpause instead")

    async def create(self, body, name):
        return {"Id": "x", "Warnings": [], "echo": body}


class _Engine:
    containers = _Containers()


def _run(check):
    async def main():
        async with TestClient(TestServer(make_app(_Engine()))) as client:
            await check(client)
    asyncio.run(main())


def test_versions_and_headers():
    async def check(client):
        for path in ("/_ping", "/v1.43/_ping", "/v1.41/_ping", "/v1.24/_ping", "/v1.12/_ping"):
            r = await client.get(path)
            assert r.status == 200 and await r.text() == "OK"
            assert r.headers["Api-Version"] == "1.43"
            assert r.headers["Server"].startswith("Docker/")
            assert r.headers["Ostype"] == "linux"
        r = await client.head("/_ping")
        assert r.status == 200 and r.headers["Builder-Version"] == "1"
        assert r.headers["Swarm"] == "inactive"
        r = await client.get("/v1.44/_ping")
        assert r.status == 400
        assert (await r.json())["message"] == ("client version 1.44 is too new. "
                                               "Maximum supported API version is 1.43")
        r = await client.get("/v1.11/containers/json")
        assert r.status == 400
        assert (await r.json())["message"] == (
            "client version 1.11 is too old. Minimum supported API version is 1.12, "
            "please upgrade your client to a newer version")
    _run(check)


def test_swarm_routes_answer_as_a_node_in_no_swarm():
    """What dockerd answers when it is not in a swarm: 503 and its words."""
    manager = ('This node is not a swarm manager. Use "docker swarm init" or '
               '"docker swarm join" to connect this node to swarm and try again.')

    async def check(client):
        r = await client.post("/v1.41/swarm/leave?force=1")
        assert r.status == 503 and await r.json() == {"message": "This node is not part of a swarm"}
        for method, path in (("GET", "/swarm"), ("GET", "/v1.43/nodes"), ("GET", "/services"),
                             ("POST", "/services/create"), ("GET", "/tasks"),
                             ("DELETE", "/secrets/abc"), ("GET", "/configs"),
                             ("GET", "/swarm/unlockkey")):
            r = await client.request(method, path)
            assert r.status == 503 and await r.json() == {"message": manager}, (method, path)
        r = await client.post("/swarm/init", json={})
        assert r.status == 503 and "no swarm mode" in (await r.json())["message"]
        r = await client.put("/v1.43/volumes/data?version=1", json={})
        assert r.status == 503 and await r.json() == {
            "message": "volume update only valid for cluster volumes, but swarm is unavailable"}
    _run(check)


def test_errors_are_docker_shaped():
    async def check(client):
        r = await client.get("/nope")
        assert r.status == 404 and await r.json() == {"message": "page not found"}
        r = await client.post("/v1.41/containers/paused/start")
        assert r.status == 409 and "unpause" in (await r.json())["message"]
        r = await client.post("/containers/running/start")
        assert r.status == 304
        r = await client.post("/containers/boom/start")
        assert r.status == 500 and await r.json() == {"message": "disk on fire"}
        r = await client.post("/containers/full/start")
        assert r.status == 500 and await r.json() == {
            "message": "/var/lib/wharf/image/rw/x/upper/log: no space left on device"}
        r = await client.post("/containers/create", data=b"{not json")
        assert r.status == 400 and "invalid JSON" in (await r.json())["message"]
        r = await client.post("/containers/create?name=x", json={"Image": "busybox"})
        assert r.status == 201 and (await r.json())["echo"] == {"Image": "busybox"}
    _run(check)


def test_os_errors_are_described_in_gos_words_not_pythons():
    assert describe(OSError(errno.ENOSPC, "No space left on device")) == "no space left on device"
    assert describe(FileExistsError(errno.EEXIST, "File exists", "/a", None, "/b")) == "/a /b: file exists"
    assert describe(OSError("a message of our own")) == "a message of our own"
    assert describe(NotFound("No such container: x")) == "No such container: x"
    assert describe(KeyError()) == "KeyError"
