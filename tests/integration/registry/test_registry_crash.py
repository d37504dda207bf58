"""Conformance-style checks against the server process: bad digests, malformed requests, kill -9."""

from __future__ import annotations

import hashlib
import http.client
import json
import os
import socket
import subprocess
import time
from pathlib import Path
from typing import Callable

from regserver import RegistryServer, write_dir_image


def request(server: RegistryServer, method: str, path: str, body: bytes = b"",
            headers: dict[str, str] | None = None) -> http.client.HTTPResponse:
    conn = http.client.HTTPConnection(server.addr, timeout=10)
    conn.request(method, path, body=body, headers=headers or {})
    response = conn.getresponse()
    response.read()
    conn.close()
    return response


def blob_files(root: Path) -> list[Path]:
    return [p for p in (root / "blobs").rglob("*") if p.is_file()]


def sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def test_digest_mismatch_stores_nothing(tmp_path: Path, serve: Callable[..., RegistryServer]) -> None:
    server = serve()
    claimed = sha256(b"what the client claims")
    r = request(server, "POST", f"/v2/app/blobs/uploads/?digest={claimed}", b"what it sends")
    assert r.status == 400
    location = request(server, "POST", "/v2/app/blobs/uploads/").getheader("Location")
    request(server, "PATCH", location, b"what it sends")
    assert request(server, "PUT", f"{location}?digest={claimed}").status == 400
    assert request(server, "HEAD", f"/v2/app/blobs/{claimed}").status == 404
    assert request(server, "HEAD", f"/v2/app/blobs/{sha256(b'what it sends')}").status == 404
    assert blob_files(server.root) == [] and os.listdir(server.root / "uploads") == []
    r = request(server, "GET", "/v2/_catalog")
    assert r.status == 200


def test_malformed_requests_never_500(tmp_path: Path, serve: Callable[..., RegistryServer]) -> None:
    server = serve()
    probes = [
        ("GET", "/v2/%00bad/tags/list", b"", {}),
        ("GET", "/v2/app/blobs/sha256:../../etc/passwd", b"", {}),
        ("GET", "/v2/app/blobs/" + "sha256:" + "0" * 64, b"", {"Range": "bytes=oops"}),
        ("PUT", "/v2/app/manifests/v1", b"{not json", {"Content-Type": "application/json"}),
        ("PUT", "/v2/app/manifests/v1", json.dumps({"schemaVersion": 2, "layers": "x"}).encode(), {}),
        ("PATCH", "/v2/app/blobs/uploads/00000000-0000-0000-0000-000000000000", b"x", {}),
        ("POST", "/v2/app/blobs/uploads/?mount=sha256:zzz&from=../x", b"", {}),
        ("GET", "/v2/app/tags/list?n=abc", b"", {}),
        ("GET", "/v2/" + "a/" * 200 + "tags/list", b"", {}),
        ("GET", "/v2/app/referrers/nope", b"", {}),
        ("DELETE", "/v2/app/manifests/@@@", b"", {}),
    ]
    for method, path, body, headers in probes:
        status = request(server, method, path, body, headers).status
        assert 400 <= status < 500, (method, path, status)
    with socket.create_connection(("127.0.0.1", server.port), timeout=5) as raw:
        raw.sendall(b"\x16\x03\x01 garbage that is not HTTP\r\n\r\n")
        raw.recv(1024)
    assert request(server, "GET", "/v2/").status == 200


def test_kill_9_mid_upload_leaves_no_blob(tmp_path: Path, serve: Callable[..., RegistryServer],
                                          skopeo: Callable[..., subprocess.CompletedProcess[str]]) -> None:
    server = serve()
    data = os.urandom(3 * 1024 * 1024)
    digest = sha256(data)
    location = request(server, "POST", "/v2/app/blobs/uploads/").getheader("Location")
    first = request(server, "PATCH", location, data[:1024 * 1024], {"Content-Range": f"0-{1024 * 1024 - 1}"})
    assert first.status == 202
    # a second chunk and a monolithic upload, both cut off mid-body by kill -9
    chunk = http.client.HTTPConnection(server.addr, timeout=10)
    chunk.putrequest("PATCH", location)
    chunk.putheader("Content-Length", str(2 * 1024 * 1024))
    chunk.endheaders()
    chunk.send(data[1024 * 1024:2 * 1024 * 1024])
    mono = http.client.HTTPConnection(server.addr, timeout=10)
    mono.putrequest("POST", f"/v2/app/blobs/uploads/?digest={digest}")
    mono.putheader("Content-Length", str(len(data)))
    mono.endheaders()
    mono.send(data[:len(data) // 2])
    time.sleep(0.3)
    server.kill()
    chunk.close()
    mono.close()
    assert blob_files(server.root) == []

    restarted = serve(root=server.root, port=server.port)
    assert request(restarted, "HEAD", f"/v2/app/blobs/{digest}").status == 404
    status = request(restarted, "GET", location)        # the upload is still there to resume
    assert status.status == 204
    size = int(status.getheader("Range").split("-")[1]) + 1
    assert size >= 1024 * 1024
    r = request(restarted, "PUT", f"{location}?digest={digest}", data[size:],
                {"Content-Range": f"{size}-{len(data) - 1}"})
    assert r.status == 201
    conn = http.client.HTTPConnection(restarted.addr, timeout=10)
    conn.request("GET", f"/v2/app/blobs/{digest}")
    assert conn.getresponse().read() == data
    conn.close()
    src = tmp_path / "image"
    write_dir_image(src, b"after the crash\n")
    r = skopeo("copy", "--dest-tls-verify=false", f"dir:{src}", f"docker://{restarted.addr}/app:after")
    assert r.returncode == 0, r.stderr


def test_serve_reports_bad_options(tmp_path: Path) -> None:
    """A missing htpasswd file or a taken port is a one-line error and exit 1, not a traceback."""
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        for flags in (["--htpasswd", str(tmp_path / "missing")], []):
            server = RegistryServer(tmp_path / "root", *flags, port=taken.getsockname()[1])
            try:
                server.start()
            except RuntimeError as err:
                assert "Traceback" not in str(err) and "wharf registry serve:" in str(err), err
            else:
                raise AssertionError("server started")
            finally:
                server.stop()
