"""Manifests, tags, catalog and referrers: storage, validation, negotiation, pagination."""

from __future__ import annotations

import json
from pathlib import Path

from regutil import (DOCKER_MANIFEST, OCI_INDEX, OCI_MANIFEST, digest, error_code, image_manifest,
                     push_blob, push_image, registry)

DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"


async def test_put_then_get_by_tag_and_digest(tmp_path: Path) -> None:
    async with registry(tmp_path) as c:
        d, body = await push_image(c, "lib/app", "v1")
        for ref in ("v1", d):
            r = await c.get(f"/v2/lib/app/manifests/{ref}", headers={"Accept": DOCKER_MANIFEST})
            assert r.status == 200 and await r.read() == body
            assert r.headers["Content-Type"] == DOCKER_MANIFEST
            assert r.headers["Docker-Content-Digest"] == d
        head = await c.head("/v2/lib/app/manifests/v1")
        assert head.status == 200 and head.headers["Content-Length"] == str(len(body))
        assert head.headers["Docker-Content-Digest"] == d


async def test_unknown_manifest(tmp_path: Path) -> None:
    async with registry(tmp_path) as c:
        await push_image(c, "app", "v1")
        for ref in ("nope", digest(b"nope")):
            r = await c.get(f"/v2/app/manifests/{ref}")
            assert r.status == 404 and await error_code(r) == "MANIFEST_UNKNOWN"
        r = await c.get("/v2/app/manifests/bad!tag")
        assert r.status == 400 and await error_code(r) == "TAG_INVALID"


async def test_accept_negotiation(tmp_path: Path) -> None:
    async with registry(tmp_path) as c:
        await push_image(c, "app", "oci", media_type=OCI_MANIFEST)
        r = await c.get("/v2/app/manifests/oci", headers={"Accept": DOCKER_MANIFEST})
        assert r.status == 404 and await error_code(r) == "MANIFEST_UNKNOWN"
        r = await c.get("/v2/app/manifests/oci", headers={"Accept": f"{DOCKER_MANIFEST}, {OCI_MANIFEST}"})
        assert r.status == 200 and r.headers["Content-Type"] == OCI_MANIFEST
        r = await c.get("/v2/app/manifests/oci", headers={"Accept": "*/*"})
        assert r.status == 200


async def test_manifest_needs_its_blobs(tmp_path: Path) -> None:
    async with registry(tmp_path) as c:
        config = await push_blob(c, "app", b"{}")
        body = image_manifest(b"{}", [b"never pushed"])
        r = await c.put("/v2/app/manifests/v1", data=body, headers={"Content-Type": DOCKER_MANIFEST})
        assert r.status == 400 and await error_code(r) == "MANIFEST_BLOB_UNKNOWN"
        assert (await r.json())["errors"][0]["detail"] == {"digest": digest(b"never pushed")}
        assert config
        assert (await c.get("/v2/app/manifests/v1")).status == 404


async def test_invalid_manifests(tmp_path: Path) -> None:
    async with registry(tmp_path) as c:
        cases = [b"not json", b"[1,2]", b'{"schemaVersion": 1}', b"\xff\xfe",
                 json.dumps({"schemaVersion": 2, "mediaType": DOCKER_MANIFEST, "config": {}}).encode(),
                 json.dumps({"schemaVersion": 2, "mediaType": DOCKER_MANIFEST, "layers": [],
                             "config": {"mediaType": "x", "size": 1, "digest": "sha256:bad"}}).encode(),
                 json.dumps({"schemaVersion": 2, "mediaType": "text/plain", "layers": []}).encode()]
        for body in cases:
            r = await c.put("/v2/app/manifests/v1", data=body, headers={"Content-Type": DOCKER_MANIFEST})
            assert r.status == 400 and await error_code(r) == "MANIFEST_INVALID", body
        r = await c.put("/v2/app/manifests/v1", data=b"{" + b" " * (4 * 1024 * 1024) + b"}")
        assert r.status == 413


async def test_media_type_must_match_content_type(tmp_path: Path) -> None:
    async with registry(tmp_path) as c:
        await push_blob(c, "app", b"cfg")
        await push_blob(c, "app", b"layer")
        body = image_manifest(b"cfg", [b"layer"], DOCKER_MANIFEST)
        r = await c.put("/v2/app/manifests/v1", data=body, headers={"Content-Type": OCI_MANIFEST})
        assert r.status == 400 and await error_code(r) == "MANIFEST_INVALID"


async def test_put_by_digest_must_match_body(tmp_path: Path) -> None:
    async with registry(tmp_path) as c:
        d, body = await push_image(c, "app", "v1")
        r = await c.put(f"/v2/app/manifests/{digest(b'other')}", data=body,
                        headers={"Content-Type": DOCKER_MANIFEST})
        assert r.status == 400 and await error_code(r) == "DIGEST_INVALID"
        r = await c.put(f"/v2/app/manifests/{d}", data=body, headers={"Content-Type": DOCKER_MANIFEST})
        assert r.status == 201 and r.headers["Location"] == f"/v2/app/manifests/{d}"


async def test_index_needs_its_manifests(tmp_path: Path) -> None:
    async with registry(tmp_path) as c:
        d, body = await push_image(c, "app", "amd64")
        entry = {"mediaType": DOCKER_MANIFEST, "size": len(body), "digest": d,
                 "platform": {"os": "linux", "architecture": "amd64"}}
        missing = {**entry, "digest": digest(b"missing")}
        for media_type in (DOCKER_LIST, OCI_INDEX):
            bad = json.dumps({"schemaVersion": 2, "mediaType": media_type, "manifests": [entry, missing]})
            r = await c.put("/v2/app/manifests/multi", data=bad, headers={"Content-Type": media_type})
            assert r.status == 400 and await error_code(r) == "MANIFEST_BLOB_UNKNOWN"
            good = json.dumps({"schemaVersion": 2, "mediaType": media_type, "manifests": [entry]}).encode()
            r = await c.put("/v2/app/manifests/multi", data=good, headers={"Content-Type": media_type})
            assert r.status == 201
            r = await c.get("/v2/app/manifests/multi", headers={"Accept": media_type})
            assert r.headers["Content-Type"] == media_type and await r.read() == good


async def test_delete_by_tag_and_by_digest(tmp_path: Path) -> None:
    async with registry(tmp_path) as c:
        d, _ = await push_image(c, "app", "v1")
        await push_image(c, "app", "v2")
        assert (await c.delete("/v2/app/manifests/v2")).status == 202
        assert (await c.get("/v2/app/manifests/v2")).status == 404
        assert (await c.get(f"/v2/app/manifests/{d}")).status == 200
        assert (await c.delete(f"/v2/app/manifests/{d}")).status == 202
        assert (await c.get(f"/v2/app/manifests/{d}")).status == 404
        assert (await c.get("/v2/app/manifests/v1")).status == 404
        assert (await (await c.get("/v2/app/tags/list")).json())["tags"] == []
        r = await c.delete(f"/v2/app/manifests/{d}")
        assert r.status == 404 and await error_code(r) == "MANIFEST_UNKNOWN"


async def test_tags_list_pagination(tmp_path: Path) -> None:
    async with registry(tmp_path) as c:
        for tag in ("c", "a", "b", "d"):
            await push_image(c, "app", tag)
        r = await c.get("/v2/app/tags/list")
        assert await r.json() == {"name": "app", "tags": ["a", "b", "c", "d"]}
        assert "Link" not in r.headers
        r = await c.get("/v2/app/tags/list", params={"n": "2"})
        assert (await r.json())["tags"] == ["a", "b"]
        assert r.headers["Link"] == '</v2/app/tags/list?last=b&n=2>; rel="next"'
        r = await c.get("/v2/app/tags/list", params={"n": "2", "last": "b"})
        assert (await r.json())["tags"] == ["c", "d"] and "Link" not in r.headers
        assert (await (await c.get("/v2/app/tags/list", params={"n": "0"})).json())["tags"] == []
        r = await c.get("/v2/app/tags/list", params={"n": "-1"})
        assert r.status == 400 and await error_code(r) == "PAGINATION_NUMBER_INVALID"
        r = await c.get("/v2/nothing/tags/list")
        assert r.status == 404 and await error_code(r) == "NAME_UNKNOWN"


async def test_catalog_pagination(tmp_path: Path) -> None:
    async with registry(tmp_path) as c:
        for repo in ("b/two", "a", "b/one", "c"):
            await push_image(c, repo, "v1")
        r = await c.get("/v2/_catalog")
        assert (await r.json())["repositories"] == ["a", "b/one", "b/two", "c"]
        r = await c.get("/v2/_catalog", params={"n": "3"})
        assert (await r.json())["repositories"] == ["a", "b/one", "b/two"]
        assert r.headers["Link"] == '</v2/_catalog?last=b%2Ftwo&n=3>; rel="next"'
        r = await c.get("/v2/_catalog", params={"n": "3", "last": "b/two"})
        assert (await r.json())["repositories"] == ["c"]


async def test_referrers(tmp_path: Path) -> None:
    async with registry(tmp_path) as c:
        subject, body = await push_image(c, "app", "v1", media_type=OCI_MANIFEST)
        r = await c.get(f"/v2/app/referrers/{subject}")
        assert r.status == 200 and (await r.json())["manifests"] == []
        sig, _ = await push_image(
            c, "app", "sig", layer=b"signature", media_type=OCI_MANIFEST,
            artifactType="application/vnd.example.signature",
            subject={"mediaType": OCI_MANIFEST, "size": len(body), "digest": subject},
            annotations={"org.example": "yes"})
        sbom, _ = await push_image(
            c, "app", "sbom", layer=b"sbom", media_type=OCI_MANIFEST, artifactType="application/spdx+json",
            subject={"mediaType": OCI_MANIFEST, "size": len(body), "digest": subject})
        r = await c.get(f"/v2/app/referrers/{subject}")
        index = await r.json()
        assert r.headers["Content-Type"] == OCI_INDEX and index["mediaType"] == OCI_INDEX
        by_digest = {m["digest"]: m for m in index["manifests"]}
        assert set(by_digest) == {sig, sbom}
        assert by_digest[sig]["artifactType"] == "application/vnd.example.signature"
        assert by_digest[sig]["annotations"] == {"org.example": "yes"}
        r = await c.get(f"/v2/app/referrers/{subject}", params={"artifactType": "application/spdx+json"})
        assert [m["digest"] for m in (await r.json())["manifests"]] == [sbom]
        assert r.headers["OCI-Filters-Applied"] == "artifactType"
        await c.delete(f"/v2/app/manifests/{sig}")
        r = await c.get(f"/v2/app/referrers/{subject}")
        assert [m["digest"] for m in (await r.json())["manifests"]] == [sbom]
        r = await c.get("/v2/app/referrers/sha256:nothex")
        assert r.status == 400 and await error_code(r) == "DIGEST_INVALID"


async def test_put_with_subject_answers_oci_subject(tmp_path: Path) -> None:
    async with registry(tmp_path) as c:
        subject = digest(b"not pushed yet")
        await push_blob(c, "app", b"{}")
        await push_blob(c, "app", b"l")
        body = image_manifest(b"{}", [b"l"], OCI_MANIFEST,
                              subject={"mediaType": OCI_MANIFEST, "size": 1, "digest": subject})
        r = await c.put("/v2/app/manifests/ref", data=body, headers={"Content-Type": OCI_MANIFEST})
        assert r.status == 201 and r.headers["OCI-Subject"] == subject


def _big_manifest(config: bytes, layer: bytes, size: int) -> bytes:
    """An image manifest padded to about ``size`` bytes with an annotation."""
    body = image_manifest(config, [layer], annotations={"pad": ""})
    return image_manifest(config, [layer], annotations={"pad": "x" * (size - len(body))})


async def test_large_manifest_read_whole_however_it_arrives(tmp_path: Path) -> None:
    """3.9 MB sent in small chunks (chunked encoding, and with a Content-Length): 201, same bytes back."""
    async with registry(tmp_path) as c:
        await push_blob(c, "app", b"{}")
        await push_blob(c, "app", b"l")
        body = _big_manifest(b"{}", b"l", 3_900_000)
        assert len(body) == 3_900_000

        async def pieces():  # noqa: ANN202 - an aiohttp body generator
            for start in range(0, len(body), 16 << 10):
                yield body[start:start + (16 << 10)]
        for tag, data in (("chunked", pieces()), ("sized", body)):
            r = await c.put(f"/v2/app/manifests/{tag}", data=data, headers={"Content-Type": DOCKER_MANIFEST})
            assert r.status == 201, await r.text()
            assert r.headers["Docker-Content-Digest"] == digest(body)
            got = await c.get(f"/v2/app/manifests/{tag}")
            assert got.status == 200 and await got.read() == body


async def test_manifest_over_the_limit_is_413_however_it_arrives(tmp_path: Path) -> None:
    async with registry(tmp_path) as c:
        await push_blob(c, "app", b"{}")
        await push_blob(c, "app", b"l")
        body = _big_manifest(b"{}", b"l", 4 * 1024 * 1024 + 1)

        async def pieces():  # noqa: ANN202 - no Content-Length: the limit is found while reading
            for start in range(0, len(body), 64 << 10):
                yield body[start:start + (64 << 10)]
        for data in (pieces(), body):
            r = await c.put("/v2/app/manifests/big", data=data, headers={"Content-Type": DOCKER_MANIFEST})
            assert r.status == 413 and await error_code(r) == "SIZE_INVALID"
        assert (await c.get("/v2/app/manifests/big")).status == 404


async def test_sha512_manifest_and_blob_answer_their_digest(tmp_path: Path) -> None:
    import hashlib
    async with registry(tmp_path) as c:
        blob = b"sha512 blob"
        d512 = "sha512:" + hashlib.sha512(blob).hexdigest()
        r = await c.post("/v2/app/blobs/uploads/", params={"digest": d512}, data=blob)
        assert r.status == 201 and r.headers["Docker-Content-Digest"] == d512
        for method in ("HEAD", "GET"):
            r = await c.request(method, f"/v2/app/blobs/{d512}")
            assert r.status == 200 and r.headers["Docker-Content-Digest"] == d512
        r = await c.get(f"/v2/app/blobs/{d512}", headers={"Range": "bytes=0-3"})
        assert r.status == 206 and r.headers["Docker-Content-Digest"] == d512
        _, body = await push_image(c, "app", "v1")
        m512 = "sha512:" + hashlib.sha512(body).hexdigest()
        r = await c.put(f"/v2/app/manifests/{m512}", data=body, headers={"Content-Type": DOCKER_MANIFEST})
        assert r.status == 201 and r.headers["Docker-Content-Digest"] == m512
        for method in ("HEAD", "GET"):
            r = await c.request(method, f"/v2/app/manifests/{m512}")
            assert r.status == 200 and r.headers["Docker-Content-Digest"] == m512
        r = await c.delete(f"/v2/app/manifests/{m512}")
        assert r.status == 202 and r.headers["Docker-Content-Digest"] == m512
        r = await c.delete(f"/v2/app/blobs/{d512}")
        assert r.status == 202 and r.headers["Docker-Content-Digest"] == d512


async def test_put_by_digest_with_tag_parameters(tmp_path: Path) -> None:
    """The spec's ``?tag=``: a sha512 manifest tagged as it is pushed, answered with OCI-Tag."""
    import hashlib
    async with registry(tmp_path) as c:
        _, body = await push_image(c, "app", "v1")
        m512 = "sha512:" + hashlib.sha512(body).hexdigest()
        r = await c.put(f"/v2/app/manifests/{m512}", params=[("tag", "a"), ("tag", "b")], data=body,
                        headers={"Content-Type": DOCKER_MANIFEST})
        assert r.status == 201 and r.headers["OCI-Tag"] == "a, b"
        for tag in ("a", "b"):
            got = await c.get(f"/v2/app/manifests/{tag}")
            assert await got.read() == body and got.headers["Docker-Content-Digest"] == m512
        r = await c.put(f"/v2/app/manifests/{m512}", params={"tag": "bad tag!"}, data=body,
                        headers={"Content-Type": DOCKER_MANIFEST})
        assert r.status == 400 and await error_code(r) == "TAG_INVALID"
