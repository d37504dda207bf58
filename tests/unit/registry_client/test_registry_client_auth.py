"""Credentials from X-Registry-Auth, challenge parsing, the token cache, scheme policy."""

from __future__ import annotations

import base64
import json

from wharf.registry.client.auth import AuthConfig, TokenCache, parse_challenges
from wharf.registry.client.endpoints import Policy, domain_of, registry_host


def encode(doc: dict) -> str:
    return base64.urlsafe_b64encode(json.dumps(doc).encode()).decode().rstrip("=")


def test_registry_auth_header_forms() -> None:
    auth = AuthConfig.from_header(encode({"username": "alice", "password": "p", "serveraddress": "h:5000"}))
    assert (auth.username, auth.password, auth.serveraddress) == ("alice", "p", "h:5000")
    packed = AuthConfig.from_header(encode({"auth": base64.b64encode(b"bob:pw:x").decode()}))
    assert (packed.username, packed.password) == ("bob", "pw:x")
    assert AuthConfig.from_header("not base64 json!") == AuthConfig()
    assert AuthConfig.from_header(encode({})).basic is None
    assert auth.basic == "Basic " + base64.b64encode(b"alice:p").decode()


def test_challenges_keep_quoted_commas() -> None:
    [bearer] = parse_challenges(['Bearer realm="https://auth.example/token",service="registry.example",'
                                 'scope="repository:a/b:pull,push repository:c:pull"'])
    assert bearer.scheme == "bearer" and bearer.params["realm"] == "https://auth.example/token"
    assert bearer.scopes == ["repository:a/b:pull,push", "repository:c:pull"]
    [basic] = parse_challenges(['Basic realm="wharf"'])
    assert basic.scheme == "basic" and basic.scopes == []


def test_token_cache_expires(monkeypatch) -> None:
    cache = TokenCache()
    [challenge] = parse_challenges(['Bearer realm="http://r/token",service="s"'])
    key = cache.key(challenge, ["repository:x:pull"], "alice")
    assert cache.put(key, {"token": "t1", "expires_in": 300}) == "t1"
    assert cache.get(key) == "t1"
    assert cache.get(cache.key(challenge, ["repository:x:pull"], "")) is None  # another user
    import time
    later = time.monotonic() + 301
    monkeypatch.setattr(time, "monotonic", lambda: later)
    assert cache.get(key) is None


def test_plain_http_only_for_loopback_and_listed() -> None:
    policy = Policy(["reg.internal:5000", "10.1.0.0/16"])
    assert policy.schemes("127.0.0.1:5000") == ("https", "http")
    assert policy.schemes("127.8.9.1") == ("https", "http")
    assert policy.schemes("localhost:5000") == ("https", "http")
    assert policy.schemes("[::1]:5000") == ("https", "http")
    assert policy.schemes("reg.internal:5000") == ("https", "http")
    assert policy.schemes("10.1.2.3:443") == ("https", "http")
    assert policy.schemes("10.2.0.1:5000") == ("https",)
    assert policy.schemes("registry-1.docker.io") == ("https",)


def test_docker_hub_names() -> None:
    assert registry_host("docker.io") == "registry-1.docker.io"
    assert registry_host("127.0.0.1:5000") == "127.0.0.1:5000"
    for address in ("", "https://index.docker.io/v1/", "docker.io", "registry-1.docker.io"):
        assert domain_of(address) == "docker.io"
    assert domain_of("http://127.0.0.1:5000/v2/") == "127.0.0.1:5000"
