"""Blobs and uploads: monolithic, chunked, mount, Range, digest checks, and bad input."""

from __future__ import annotations

import os
from pathlib import Path

from regutil import digest, error_code, push_blob, registry


def visible_blobs(root: Path) -> list[str]:
    return [p.name for p in (root / "blobs").rglob("*") if p.is_file()]


async def test_base_endpoint_announces_the_api_version(tmp_path: Path) -> None:
    async with registry(tmp_path) as c:
        r = await c.get("/v2/")
        assert r.status == 200
        assert r.headers["Docker-Distribution-API-Version"] == "registry/2.0"
        assert (await c.get("/v2")).status == 200


async def test_monolithic_upload_then_head_and_get(tmp_path: Path) -> None:
    async with registry(tmp_path) as c:
        data = os.urandom(10000)
        d = digest(data)
        r = await c.post("/v2/lib/app/blobs/uploads/", params={"digest": d}, data=data)
        assert r.status == 201
        assert r.headers["Location"] == f"/v2/lib/app/blobs/{d}"
        assert r.headers["Docker-Content-Digest"] == d
        head = await c.head(f"/v2/lib/app/blobs/{d}")
        assert head.status == 200 and head.headers["Content-Length"] == "10000"
        assert head.headers["Docker-Content-Digest"] == d
        assert await (await c.get(f"/v2/lib/app/blobs/{d}")).read() == data


async def test_range_requests(tmp_path: Path) -> None:
    async with registry(tmp_path) as c:
        data = bytes(range(256)) * 4
        d = await push_blob(c, "r", data)
        part = await c.get(f"/v2/r/blobs/{d}", headers={"Range": "bytes=10-19"})
        assert part.status == 206 and await part.read() == data[10:20]
        assert part.headers["Content-Range"] == f"bytes 10-19/{len(data)}"
        for bad in ("bytes=5000-6000", "bytes=x-y", "chars=1-2", "bytes=9-3"):
            r = await c.get(f"/v2/r/blobs/{d}", headers={"Range": bad})
            assert r.status in (200, 416), (bad, r.status)


async def test_blob_of_another_repository_is_unknown(tmp_path: Path) -> None:
    async with registry(tmp_path) as c:
        d = await push_blob(c, "a", b"private")
        r = await c.get(f"/v2/b/blobs/{d}")
        assert r.status == 404 and await error_code(r) == "BLOB_UNKNOWN"


async def test_digest_mismatch_stores_nothing(tmp_path: Path) -> None:
    async with registry(tmp_path) as c:
        wrong = digest(b"something else")
        r = await c.post("/v2/x/blobs/uploads/", params={"digest": wrong}, data=b"actual bytes")
        assert r.status == 400 and await error_code(r) == "DIGEST_INVALID"
        assert (await c.head(f"/v2/x/blobs/{wrong}")).status == 404
        assert (await c.head(f"/v2/x/blobs/{digest(b'actual bytes')}")).status == 404
    assert visible_blobs(tmp_path) == [] and os.listdir(tmp_path / "uploads") == []


async def test_post_then_put_with_body(tmp_path: Path) -> None:
    async with registry(tmp_path) as c:
        r = await c.post("/v2/x/blobs/uploads/")
        assert r.status == 202 and r.headers["Range"] == "0-0"
        uuid = r.headers["Docker-Upload-UUID"]
        assert r.headers["Location"] == f"/v2/x/blobs/uploads/{uuid}"
        r = await c.put(r.headers["Location"], params={"digest": digest(b"whole")}, data=b"whole")
        assert r.status == 201
        assert await (await c.get(f"/v2/x/blobs/{digest(b'whole')}")).read() == b"whole"


async def test_chunked_upload_checks_offsets(tmp_path: Path) -> None:
    async with registry(tmp_path) as c:
        location = (await c.post("/v2/x/blobs/uploads/")).headers["Location"]
        r = await c.patch(location, data=b"abcd", headers={"Content-Range": "0-3"})
        assert r.status == 202 and r.headers["Range"] == "0-3"
        r = await c.patch(location, data=b"zz", headers={"Content-Range": "2-3"})
        assert r.status == 416 and r.headers["Range"] == "0-3"
        r = await c.patch(location, data=b"efg", headers={"Content-Range": "4-6"})
        assert r.status == 202 and r.headers["Range"] == "0-6"
        r = await c.patch(location, data=b"h", headers={"Content-Range": "7-9"})
        assert r.status == 400 and await error_code(r) == "SIZE_INVALID"
        r = await c.patch(location, data=b"h", headers={"Content-Range": "oops"})
        assert r.status == 400 and await error_code(r) == "BLOB_UPLOAD_INVALID"
        status = await c.get(location)
        assert status.status == 204 and status.headers["Range"] == "0-6"
        r = await c.patch(location, data=b"hij")            # streamed: no Content-Range
        assert r.status == 202 and r.headers["Range"] == "0-9"
        r = await c.put(location, params={"digest": digest(b"abcdefghij")})
        assert r.status == 201
        assert await (await c.get(f"/v2/x/blobs/{digest(b'abcdefghij')}")).read() == b"abcdefghij"
        assert (await c.get(location)).status == 404


async def test_final_put_with_wrong_digest_drops_the_upload(tmp_path: Path) -> None:
    async with registry(tmp_path) as c:
        location = (await c.post("/v2/x/blobs/uploads/")).headers["Location"]
        await c.patch(location, data=b"data")
        r = await c.put(location, params={"digest": digest(b"other")})
        assert r.status == 400 and await error_code(r) == "DIGEST_INVALID"
        r = await c.get(location)
        assert r.status == 404 and await error_code(r) == "BLOB_UPLOAD_UNKNOWN"
    assert visible_blobs(tmp_path) == []


async def test_final_put_needs_a_digest(tmp_path: Path) -> None:
    async with registry(tmp_path) as c:
        location = (await c.post("/v2/x/blobs/uploads/")).headers["Location"]
        r = await c.put(location, data=b"x")
        assert r.status == 400 and await error_code(r) == "DIGEST_INVALID"


async def test_sha512_digests_are_verified(tmp_path: Path) -> None:
    import hashlib
    async with registry(tmp_path) as c:
        d = "sha512:" + hashlib.sha512(b"long hash").hexdigest()
        r = await c.post("/v2/x/blobs/uploads/", params={"digest": d}, data=b"long hash")
        assert r.status == 201
        assert (await c.head(f"/v2/x/blobs/{d}")).status == 200


async def test_cancel_upload(tmp_path: Path) -> None:
    async with registry(tmp_path) as c:
        location = (await c.post("/v2/x/blobs/uploads/")).headers["Location"]
        assert (await c.delete(location)).status == 204
        assert (await c.patch(location, data=b"late")).status == 404
        assert os.listdir(tmp_path / "uploads") == []


async def test_upload_belongs_to_its_repository(tmp_path: Path) -> None:
    async with registry(tmp_path) as c:
        uuid = (await c.post("/v2/x/blobs/uploads/")).headers["Docker-Upload-UUID"]
        r = await c.get(f"/v2/y/blobs/uploads/{uuid}")
        assert r.status == 404 and await error_code(r) == "BLOB_UPLOAD_UNKNOWN"
        for bad in ("..", "not-a-uuid", "%2e%2e%2f%2e%2e"):
            assert (await c.get(f"/v2/x/blobs/uploads/{bad}")).status in (400, 404)


async def test_cross_repository_mount(tmp_path: Path) -> None:
    async with registry(tmp_path) as c:
        d = await push_blob(c, "src/repo", b"shared layer")
        r = await c.post("/v2/dst/blobs/uploads/", params={"mount": d, "from": "src/repo"})
        assert r.status == 201 and r.headers["Location"] == f"/v2/dst/blobs/{d}"
        assert await (await c.get(f"/v2/dst/blobs/{d}")).read() == b"shared layer"
        missing = digest(b"nowhere")
        r = await c.post("/v2/dst/blobs/uploads/", params={"mount": missing, "from": "src/repo"})
        assert r.status == 202 and "Docker-Upload-UUID" in r.headers


async def test_delete_blob(tmp_path: Path) -> None:
    async with registry(tmp_path) as c:
        d = await push_blob(c, "x", b"gone soon")
        r = await c.delete(f"/v2/x/blobs/{d}")
        assert r.status == 202
        assert (await c.head(f"/v2/x/blobs/{d}")).status == 404
        r = await c.delete(f"/v2/x/blobs/{d}")
        assert r.status == 404 and await error_code(r) == "BLOB_UNKNOWN"


async def test_malformed_digests_and_names_are_400s(tmp_path: Path) -> None:
    async with registry(tmp_path) as c:
        for bad in ("sha256:xyz", "md5:d41d8cd98f00b204e9800998ecf8427e", "sha256", "sha256:..",
                    "sha256:" + "A" * 64):
            r = await c.get(f"/v2/x/blobs/{bad}")
            assert r.status in (400, 404) and await error_code(r) == "DIGEST_INVALID", bad
            r = await c.post("/v2/x/blobs/uploads/", params={"digest": bad}, data=b"x")
            assert r.status == 400 and await error_code(r) == "DIGEST_INVALID", bad
        for name in ("UPPER", "a//b", "-lead", "a/_layers", "x" * 256, "a..b"):
            r = await c.post(f"/v2/{name}/blobs/uploads/")
            assert r.status == 400 and await error_code(r) == "NAME_INVALID", name


async def test_unsupported_method_and_unknown_route(tmp_path: Path) -> None:
    async with registry(tmp_path) as c:
        r = await c.post(f"/v2/x/blobs/{digest(b'a')}")
        assert r.status == 405 and await error_code(r) == "UNSUPPORTED"
        assert (await c.get("/v2/x/whatever")).status == 404
