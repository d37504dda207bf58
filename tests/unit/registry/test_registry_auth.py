"""Basic (htpasswd, bcrypt) and Bearer (our token endpoint) authentication."""

from __future__ import annotations

import base64
from pathlib import Path

import bcrypt
import pytest

from regutil import error_code, push_blob, registry

REALM = "http://127.0.0.1:5000/token"


def basic(user: str, password: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


@pytest.fixture
def htpasswd(tmp_path: Path) -> str:
    path = tmp_path / "htpasswd"
    hashed = bcrypt.hashpw(b"s3cret", bcrypt.gensalt(rounds=4)).decode().replace("$2b$", "$2y$", 1)
    path.write_text(f"alice:{hashed}\nbroken:$2y$notahash\n")
    return str(path)


async def test_basic_auth(tmp_path: Path, htpasswd: str) -> None:
    async with registry(tmp_path / "root", htpasswd=htpasswd) as c:
        r = await c.get("/v2/")
        assert r.status == 401 and await error_code(r) == "UNAUTHORIZED"
        assert r.headers["WWW-Authenticate"] == 'Basic realm="wharf-registry"'
        for headers in (basic("alice", "wrong"), basic("bob", "s3cret"), basic("broken", "x"),
                        {"Authorization": "Basic !!!notbase64"}, {"Authorization": "Bearer abc"}):
            assert (await c.get("/v2/", headers=headers)).status == 401, headers
        r = await c.get("/v2/", headers=basic("alice", "s3cret"))
        assert r.status == 200
        r = await c.get("/v2/app/tags/list", headers=basic("alice", "s3cret"))
        assert r.status == 404           # authenticated, then: no such repository


async def token(c, headers: dict[str, str], *scopes: str) -> str:
    r = await c.get("/token", params=[("service", "wharf-registry")] + [("scope", s) for s in scopes],
                    headers=headers)
    assert r.status == 200, await r.text()
    body = await r.json()
    assert body["token"] == body["access_token"] and body["expires_in"] > 0
    return body["token"]


async def test_bearer_challenge_and_token_flow(tmp_path: Path, htpasswd: str) -> None:
    async with registry(tmp_path / "root", htpasswd=htpasswd, token_realm=REALM) as c:
        r = await c.get("/v2/")
        assert r.status == 401
        assert r.headers["WWW-Authenticate"] == f'Bearer realm="{REALM}",service="wharf-registry"'
        r = await c.get("/v2/lib/app/manifests/v1")
        assert r.headers["WWW-Authenticate"] == (
            f'Bearer realm="{REALM}",service="wharf-registry",scope="repository:lib/app:pull"')

        push = await token(c, basic("alice", "s3cret"), "repository:lib/app:pull,push")
        auth = {"Authorization": f"Bearer {push}"}
        assert (await c.get("/v2/", headers=auth)).status == 200
        r = await c.post("/v2/lib/app/blobs/uploads/", headers=auth)
        assert r.status == 202

        pull = await token(c, basic("alice", "s3cret"), "repository:lib/app:pull")
        r = await c.post("/v2/lib/app/blobs/uploads/", headers={"Authorization": f"Bearer {pull}"})
        assert r.status == 401 and await error_code(r) == "UNAUTHORIZED"
        assert r.headers["WWW-Authenticate"].endswith(
            'scope="repository:lib/app:pull,push",error="insufficient_scope"')
        r = await c.get("/v2/other/tags/list", headers={"Authorization": f"Bearer {pull}"})
        assert r.status == 401


async def test_token_endpoint_refuses_bad_credentials(tmp_path: Path, htpasswd: str) -> None:
    async with registry(tmp_path / "root", htpasswd=htpasswd, token_realm=REALM) as c:
        r = await c.get("/token", params={"service": "wharf-registry", "scope": "repository:a:pull"},
                        headers=basic("alice", "wrong"))
        assert r.status == 401 and "Basic" in r.headers["WWW-Authenticate"]
        r = await c.get("/token", params={"service": "elsewhere"}, headers=basic("alice", "s3cret"))
        assert r.status == 400
        anonymous = await token(c, {}, "repository:a:pull")
        r = await c.get("/v2/a/tags/list", headers={"Authorization": f"Bearer {anonymous}"})
        assert r.status == 401 and "insufficient_scope" in r.headers["WWW-Authenticate"]


async def test_oauth2_password_grant(tmp_path: Path, htpasswd: str) -> None:
    async with registry(tmp_path / "root", htpasswd=htpasswd, token_realm=REALM) as c:
        form = {"grant_type": "password", "username": "alice", "password": "s3cret",
                "service": "wharf-registry", "scope": "repository:a:pull repository:b:pull", "client_id": "t"}
        r = await c.post("/token", data=form)
        assert r.status == 200
        t = (await r.json())["access_token"]
        for repo in ("a", "b"):
            r = await c.get(f"/v2/{repo}/tags/list", headers={"Authorization": f"Bearer {t}"})
            assert r.status == 404            # allowed in; the repository just does not exist
        assert (await c.post("/token", data={**form, "password": "wrong"})).status == 401
        assert (await c.post("/token", data={"grant_type": "refresh_token", "refresh_token": "x"})).status == 400


async def test_tampered_or_foreign_tokens_are_invalid(tmp_path: Path, htpasswd: str) -> None:
    async with registry(tmp_path / "root", htpasswd=htpasswd, token_realm=REALM) as c:
        good = await token(c, basic("alice", "s3cret"), "repository:a:pull")
        header, payload, signature = good.split(".")
        forged = f"{header}.{payload[:-2]}AA.{signature}"
        for bad in (forged, "garbage", "a.b.c", ""):
            r = await c.get("/v2/a/tags/list", headers={"Authorization": f"Bearer {bad}"})
            assert r.status == 401, bad
    async with registry(tmp_path / "other-root", htpasswd=htpasswd, token_realm=REALM) as c:
        r = await c.get("/v2/a/tags/list", headers={"Authorization": f"Bearer {good}"})
        assert r.status == 401 and 'error="invalid_token"' in r.headers["WWW-Authenticate"]


async def test_tokens_survive_a_restart(tmp_path: Path, htpasswd: str) -> None:
    async with registry(tmp_path / "root", htpasswd=htpasswd, token_realm=REALM) as c:
        t = await token(c, basic("alice", "s3cret"), "repository:a:pull,push")
    async with registry(tmp_path / "root", htpasswd=htpasswd, token_realm=REALM) as c:
        r = await c.post("/v2/a/blobs/uploads/", headers={"Authorization": f"Bearer {t}"})
        assert r.status == 202


async def test_mount_needs_pull_on_the_source(tmp_path: Path) -> None:
    """Without --htpasswd, the token endpoint grants whatever is asked: scopes still apply."""
    async with registry(tmp_path / "root", token_realm=REALM) as c:
        t = await token(c, {}, "repository:src:pull,push")
        d = await push_blob(c, "src", b"layer", Authorization=f"Bearer {t}")
        only_dst = await token(c, {}, "repository:dst:pull,push")
        r = await c.post("/v2/dst/blobs/uploads/", params={"mount": d, "from": "src"},
                         headers={"Authorization": f"Bearer {only_dst}"})
        assert r.status == 202           # no pull on src: an ordinary upload instead of a mount
        both = await token(c, {}, "repository:dst:pull,push", "repository:src:pull")
        r = await c.post("/v2/dst/blobs/uploads/", params={"mount": d, "from": "src"},
                         headers={"Authorization": f"Bearer {both}"})
        assert r.status == 201
