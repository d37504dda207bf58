"""Helpers for the registry server's unit tests: a test client on a temp root, and pushes."""

from __future__ import annotations

import contextlib
import hashlib
import json
from typing import Any, AsyncIterator

from aiohttp.test_utils import TestClient, TestServer

from wharf.registry.server.app import ServerConfig, make_app

DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"


def digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


@contextlib.asynccontextmanager
async def registry(root: Any, **options: Any) -> AsyncIterator[TestClient]:
    client = TestClient(TestServer(make_app(ServerConfig(root=str(root), **options))))
    await client.start_server()
    try:
        yield client
    finally:
        await client.close()


async def push_blob(client: TestClient, repo: str, data: bytes, **headers: str) -> str:
    d = digest(data)
    r = await client.post(f"/v2/{repo}/blobs/uploads/", params={"digest": d}, data=data, headers=headers)
    assert r.status == 201, await r.text()
    return d


def image_manifest(config: bytes, layers: list[bytes], media_type: str = DOCKER_MANIFEST,
                   **extra: Any) -> bytes:
    def desc(kind: str, data: bytes) -> dict[str, Any]:
        return {"mediaType": kind, "size": len(data), "digest": digest(data)}
    return json.dumps({
        "schemaVersion": 2, "mediaType": media_type,
        "config": desc("application/vnd.docker.container.image.v1+json", config),
        "layers": [desc("application/vnd.docker.image.rootfs.diff.tar.gzip", layer) for layer in layers],
        **extra}).encode()


async def push_image(client: TestClient, repo: str, tag: str, layer: bytes = b"layer-bytes",
                     config: bytes = b'{"os":"linux"}', media_type: str = DOCKER_MANIFEST,
                     **extra: Any) -> tuple[str, bytes]:
    """Push config, one layer and a manifest under ``tag``; (manifest digest, manifest bytes)."""
    await push_blob(client, repo, config)
    await push_blob(client, repo, layer)
    body = image_manifest(config, [layer], media_type, **extra)
    r = await client.put(f"/v2/{repo}/manifests/{tag}", data=body, headers={"Content-Type": media_type})
    assert r.status == 201, await r.text()
    assert r.headers["Docker-Content-Digest"] == digest(body)
    return digest(body), body


async def error_code(response: Any) -> str:
    body = await response.json(content_type=None)
    return body["errors"][0]["code"]
