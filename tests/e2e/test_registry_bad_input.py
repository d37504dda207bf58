"""Pulls that must fail cleanly: unknown names, a corrupt blob, a registry that is down,
an index with nothing for this host; and platform selection from an index."""

from __future__ import annotations

import hashlib
import json
import sys
import time
from pathlib import Path
from typing import Iterator

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "integration" / "registry_client"))
from registries import FakeRegistry, free_port, wharf_registry  # noqa: E402


@pytest.fixture(scope="module")
def d(make_wharfd):
    return make_wharfd(with_busybox=False)


@pytest.fixture
def fake() -> Iterator[FakeRegistry]:
    server = FakeRegistry()
    yield server
    server.stop()


def stored(d) -> dict[str, set[str]]:
    """What the daemon holds on disk: layers, blobs, images, layers being unpacked."""
    image = d.data_root / "image"
    return {"layers": {p.name for p in (image / "layers").iterdir() if len(p.name) == 64},
            "blobs": {p.name for p in (image / "content" / "sha256").iterdir()},
            "images": {p.name for p in (image / "imagedb").iterdir()},
            "unpacking": {p.name for p in (image / "layers" / "tmp").iterdir()}}


def test_unknown_repository_and_tag(d, tmp_path: Path) -> None:
    server = wharf_registry(tmp_path, "open")
    try:
        for ref in (f"{server.addr}/no/such:thing", f"{server.addr}/nothing-here"):
            r = d.wharf("pull", ref)
            assert r.returncode == 1, r
            assert "manifest unknown" in r.stderr and "not found" in r.stderr, r.stderr
    finally:
        server.stop()


def test_corrupt_blob_is_refused_and_nothing_is_kept(d, fake: FakeRegistry) -> None:
    fake.add_image("good", {"hello": b"fine"})
    assert d.wharf("pull", f"{fake.addr}/x:good").returncode == 0
    before = stored(d)
    layer = fake.add_image("bad", {"evil": b"payload"}, corrupt=True)
    r = d.wharf("pull", f"{fake.addr}/x:bad")
    assert r.returncode == 1
    assert f"filesystem layer verification failed for digest {layer}" in r.stderr, r.stderr
    assert stored(d) == before
    assert f"{fake.addr}/x" not in d.wharf("images", "--format", "{{.Repository}}:{{.Tag}}").stdout.replace(
        f"{fake.addr}/x:good", "")
    assert d.wharf("rmi", f"{fake.addr}/x:good").returncode == 0


def test_registry_down_fails_clearly_after_retries(d) -> None:
    addr = f"127.0.0.1:{free_port()}"
    started = time.monotonic()
    r = d.wharf("pull", f"{addr}/x:1")
    elapsed = time.monotonic() - started
    assert r.returncode == 1
    assert f'Get "http://{addr}/v2/": dial tcp {addr}: connect: connection refused' in r.stderr, r.stderr
    assert elapsed >= 1.5, "failed without retrying"


def test_index_without_this_platform(d, fake: FakeRegistry) -> None:
    fake.add_index("foreign", [("windows", "amd64"), ("linux", "s390x")])
    r = d.wharf("pull", f"{fake.addr}/multi:foreign")
    assert r.returncode == 1
    assert "no matching manifest for linux/amd64 in the manifest list entries" in r.stderr, r.stderr


def test_index_platform_selection(d, fake: FakeRegistry) -> None:
    fake.add_index("multi", [("linux", "arm64"), ("linux", "amd64")])
    ref = f"{fake.addr}/multi:multi"
    try:
        for platform in ("linux/arm64", "linux/amd64"):
            r = d.wharf("pull", "--platform", platform, ref)
            assert r.returncode == 0, r.stderr
            info = json.loads(d.wharf("image", "inspect", ref).stdout)[0]
            assert info["Architecture"] == platform.split("/")[1]
        dist = json.loads(d.wharf("image", "inspect", ref).stdout)[0]["RepoDigests"]
        _, index = fake.manifests["multi"]
        assert f"{fake.addr}/multi@sha256:{hashlib.sha256(index).hexdigest()}" in dist
        status, body = d.api("GET", f"/distribution/{ref}/json")
        assert status == 200 and {p["architecture"] for p in body["Platforms"]} == {"arm64", "amd64"}
    finally:
        d.wharf("rmi", "-f", ref)
