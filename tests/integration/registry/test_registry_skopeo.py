"""An independent client (skopeo) pushes into wharf's registry and reads back, with and without auth."""

from __future__ import annotations

import base64
import json
import subprocess
import urllib.error
import urllib.request
from pathlib import Path
from typing import Callable

import bcrypt
import pytest

from regserver import RegistryServer, free_port, write_dir_image

Skopeo = Callable[..., subprocess.CompletedProcess[str]]


@pytest.fixture
def htpasswd(tmp_path: Path) -> Path:
    path = tmp_path / "htpasswd"
    path.write_text(f"alice:{bcrypt.hashpw(b's3cret', bcrypt.gensalt(rounds=4)).decode()}\n")
    return path


def round_trip(tmp_path: Path, server: RegistryServer, skopeo: Skopeo, *creds: str) -> None:
    """Push a dir: image, inspect it, copy it back: the same bytes come out."""
    src, out = tmp_path / "src", tmp_path / "out"
    digests = write_dir_image(src, b"hello from wharf's registry\n")
    ref = f"docker://{server.addr}/team/hello:1.0"
    tls = ["--tls-verify=false"]
    r = skopeo("copy", "--dest-tls-verify=false", *[f"--dest-{c}" for c in creds], f"dir:{src}", ref)
    assert r.returncode == 0, r.stderr
    r = skopeo("inspect", *tls, *[f"--{c}" for c in creds], ref)
    assert r.returncode == 0, r.stderr
    info = json.loads(r.stdout)
    assert info["Layers"] == [digests["layer"]] and info["RepoTags"] == ["1.0"]
    r = skopeo("copy", "--src-tls-verify=false", *[f"--src-{c}" for c in creds], ref, f"dir:{out}")
    assert r.returncode == 0, r.stderr
    for digest in digests.values():
        name = digest.split(":")[1]
        assert (out / name).read_bytes() == (src / name).read_bytes()


def test_skopeo_round_trip(tmp_path: Path, serve: Callable[..., RegistryServer], skopeo: Skopeo) -> None:
    round_trip(tmp_path, serve(), skopeo)


def test_skopeo_with_basic_auth(tmp_path: Path, serve: Callable[..., RegistryServer], skopeo: Skopeo,
                                htpasswd: Path) -> None:
    server = serve("--htpasswd", str(htpasswd))
    r = skopeo("inspect", "--tls-verify=false", "--creds=alice:wrong", f"docker://{server.addr}/team/hello:1.0")
    assert r.returncode != 0 and "unauthorized" in r.stderr.lower()
    round_trip(tmp_path, server, skopeo, "creds=alice:s3cret")


def test_skopeo_with_bearer_tokens(tmp_path: Path, serve: Callable[..., RegistryServer], skopeo: Skopeo,
                                   htpasswd: Path) -> None:
    port = free_port()
    server = serve("--htpasswd", str(htpasswd), "--token-realm", f"http://127.0.0.1:{port}/token", port=port)
    r = skopeo("inspect", "--tls-verify=false", "--creds=alice:wrong", f"docker://{server.addr}/team/hello:1.0")
    assert r.returncode != 0 and "unauthorized" in r.stderr.lower()
    round_trip(tmp_path, server, skopeo, "creds=alice:s3cret")
    # the token endpoint is what skopeo went through: a token from it opens the repository
    request = urllib.request.Request(
        f"http://{server.addr}/token?service=wharf-registry&scope=repository:team/hello:pull",
        headers={"Authorization": "Basic " + base64.b64encode(b"alice:s3cret").decode()})
    token = json.load(urllib.request.urlopen(request, timeout=10))["token"]
    tags = urllib.request.Request(f"http://{server.addr}/v2/team/hello/tags/list",
                                  headers={"Authorization": f"Bearer {token}"})
    assert json.load(urllib.request.urlopen(tags, timeout=10))["tags"] == ["1.0"]
    with pytest.raises(urllib.error.HTTPError) as err:
        urllib.request.urlopen(f"http://{server.addr}/v2/team/hello/tags/list", timeout=10)
    assert err.value.code == 401 and err.value.headers["WWW-Authenticate"].startswith("Bearer realm=")


def test_skopeo_over_tls(tmp_path: Path, serve: Callable[..., RegistryServer], skopeo: Skopeo) -> None:
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                    "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
                    "-keyout", str(key), "-out", str(cert)], check=True, capture_output=True)
    server = serve("--tls-cert", str(cert), "--tls-key", str(key))
    round_trip(tmp_path, server, skopeo)
    with pytest.raises(OSError):            # plain HTTP gets no registry here
        urllib.request.urlopen(f"http://{server.addr}/v2/", timeout=10).read()
