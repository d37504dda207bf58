"""What push and pull move, as a registry sees it: gzip layers pushed (and remembered, so a
second push sends nothing), gzip, zstd and uncompressed layers pulled; transfers over a
network that drops connections; multi-platform images by tag, digest and --platform."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import sys
import tarfile
from pathlib import Path
from typing import Iterator

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "integration" / "registry_client"))
from registries import CuttingProxy, FakeRegistry, RegistryServer, wharf_registry  # noqa: E402
from support.commands import ok  # noqa: E402

GZIP_LAYER = "application/vnd.docker.image.rootfs.diff.tar.gzip"


@pytest.fixture(scope="module")
def puller(make_wharfd):
    """An empty daemon: what it has came through the registry."""
    return make_wharfd(with_busybox=False)


@pytest.fixture
def registry(tmp_path: Path) -> Iterator[RegistryServer]:
    server = wharf_registry(tmp_path, "open")
    yield server
    server.stop()


@pytest.fixture
def fake() -> Iterator[FakeRegistry]:
    server = FakeRegistry()
    yield server
    server.stop()


def pushed_manifest(server: RegistryServer, repo: str, tag: str) -> dict:
    root = server.root
    algorithm, hex_ = (root / "repositories" / repo / "_manifests" / "tags" / tag).read_text().split(":")
    return json.loads((root / "blobs" / algorithm / hex_).read_bytes())


def blob(server: RegistryServer, digest: str) -> bytes:
    algorithm, hex_ = digest.split(":")
    return (server.root / "blobs" / algorithm / hex_).read_bytes()


def test_push_sends_gzip_layers_and_a_second_push_sends_none(wharfd, busybox, registry: RegistryServer) -> None:
    ref = f"{registry.addr}/team/busybox:gz"
    try:
        ok(wharfd.wharf("tag", "busybox:latest", ref))
        assert "Pushed" in ok(wharfd.wharf("push", ref))
        manifest = pushed_manifest(registry, "team/busybox", "gz")
        diff_ids = json.loads(blob(registry, manifest["config"]["digest"]))["rootfs"]["diff_ids"]
        assert len(manifest["layers"]) == len(diff_ids) > 0
        for layer, diff_id in zip(manifest["layers"], diff_ids):
            data = blob(registry, layer["digest"])
            assert layer["mediaType"] == GZIP_LAYER and layer["size"] == len(data)
            tar = gzip.decompress(data)  # one valid gzip file, though made on several threads
            assert "sha256:" + hashlib.sha256(tar).hexdigest() == diff_id
            assert len(data) < len(tar)
        blobs = sorted(p.name for p in (registry.root / "blobs").rglob("*") if p.is_file())
        again = ok(wharfd.wharf("push", ref))
        assert "Layer already exists" in again and "Pushed" not in again, again
        assert sorted(p.name for p in (registry.root / "blobs").rglob("*") if p.is_file()) == blobs
        assert list((registry.root / "uploads").iterdir()) == []  # not even an upload started
        other = f"{registry.addr}/other/busybox:gz"
        ok(wharfd.wharf("tag", "busybox:latest", other))
        assert "Mounted from team/busybox" in ok(wharfd.wharf("push", other))
        assert pushed_manifest(registry, "other/busybox", "gz")["layers"] == manifest["layers"]
    finally:
        wharfd.wharf("rmi", ref, f"{registry.addr}/other/busybox:gz")


@pytest.mark.parametrize("compression", ["gzip", "zstd", "none"])
def test_pull_gzip_zstd_and_uncompressed_layers(compression: str, puller, fake: FakeRegistry) -> None:
    d = puller
    fake.add_image(compression, {"greeting": f"hello from a {compression} layer".encode()},
                   compression=compression)
    ref = f"{fake.addr}/formats:{compression}"
    out = ok(d.wharf("pull", ref))
    assert "Pull complete" in out, out
    info = json.loads(ok(d.wharf("image", "inspect", ref)))[0]
    _, manifest = fake.manifests[compression]
    config = fake.blobs[json.loads(manifest)["config"]["digest"]]
    assert info["RootFS"]["Layers"] == json.loads(config)["rootfs"]["diff_ids"]
    ok(d.wharf("image", "check"))  # every layer's tar rebuilt and matched to its diff ID
    ok(d.wharf("rmi", ref))


def stored(d) -> dict[str, set[str]]:
    """What the daemon holds on disk: layers, images, layers being unpacked."""
    image = d.data_root / "image"
    return {"layers": {p.name for p in (image / "layers").iterdir() if len(p.name) == 64},
            "images": {p.name for p in (image / "imagedb").iterdir()},
            "unpacking": {p.name for p in (image / "layers" / "tmp").iterdir()}}


@pytest.mark.parametrize("honour_range", [True, False], ids=["range", "whole"])
def test_pull_resumes_a_dropped_blob(honour_range: bool, puller, fake: FakeRegistry) -> None:
    """Two connections cut mid-layer: the pull goes on where each broke (Range), retrying
    after a pause it reports; a registry that ignores Range has the bytes held skipped."""
    layer = fake.add_image("cut", {"big": os.urandom(3 << 20)})
    fake.drops, fake.drop_at, fake.honour_range = 2, 1 << 20, honour_range
    ref = f"{fake.addr}/flaky:cut"
    try:
        out = ok(puller.wharf("pull", ref))
        assert "Pull complete" in out and "Retrying in 1 second" in out and "Retrying in 2 seconds" in out, out
        gets = [r for r, hit in zip(fake.ranges, [h for h in fake.hits if "/blobs/" in h]) if hit.endswith(layer)]
        assert gets == [None, f"bytes={1 << 20}-", f"bytes={2 << 20}-" if honour_range else f"bytes={1 << 20}-"]
        ok(puller.wharf("image", "check"))
        assert stored(puller)["unpacking"] == set()
    finally:
        puller.wharf("rmi", ref)


def test_a_blob_that_fails_its_digest_leaves_nothing(puller, fake: FakeRegistry) -> None:
    before = stored(puller)
    layer = fake.add_image("bad", {"evil": os.urandom(1 << 20)}, corrupt=True)
    r = puller.wharf("pull", f"{fake.addr}/x:bad")
    assert r.returncode == 1 and f"filesystem layer verification failed for digest {layer}" in r.stderr, r.stderr
    assert stored(puller) == before


def test_pull_by_digest_of_an_index_and_of_a_manifest(puller, fake: FakeRegistry) -> None:
    fake.add_index("multi", [("linux", "arm64"), ("linux", "amd64")])
    _, index = fake.manifests["multi"]
    _, arm = fake.manifests["multi-linux-arm64"]
    by_index = f"{fake.addr}/multi@sha256:{hashlib.sha256(index).hexdigest()}"
    by_manifest = f"{fake.addr}/multi@sha256:{hashlib.sha256(arm).hexdigest()}"
    try:
        ok(puller.wharf("pull", by_index))  # resolved to this daemon's platform
        info = json.loads(ok(puller.wharf("image", "inspect", by_index)))[0]
        assert info["Architecture"] == "amd64" and by_index in info["RepoDigests"]
        ok(puller.wharf("pull", by_manifest))  # a platform's manifest itself, whatever the daemon's
        info = json.loads(ok(puller.wharf("image", "inspect", by_manifest)))[0]
        assert info["Architecture"] == "arm64" and by_manifest in info["RepoDigests"]
    finally:
        puller.wharf("rmi", "-f", by_index, by_manifest)


def test_create_with_platform_pulls_that_platform(puller, fake: FakeRegistry) -> None:
    """An image here for another platform is refused as dockerd's (not found), so the CLI
    pulls the wanted platform's and creates the container from it."""
    fake.add_index("multi", [("linux", "arm64"), ("linux", "amd64")])
    ref = f"{fake.addr}/multi:multi"
    try:
        ok(puller.wharf("pull", ref))
        status, body = puller.api("POST", "/containers/create?platform=linux/arm64", {"Image": ref})
        assert status == 404 and body["message"] == (
            f"image with reference {ref} was found but does not match the specified platform: "
            "wanted linux/arm64, actual: linux/amd64"), body
        r = puller.wharf("create", "--platform", "linux/arm64", ref, "true")
        assert r.returncode == 0 and f"Unable to find image '{ref}' locally" in r.stderr, r.stderr
        container = json.loads(ok(puller.wharf("inspect", r.stdout.strip())))[0]
        assert json.loads(ok(puller.wharf("image", "inspect", container["Image"])))[0]["Architecture"] == "arm64"
        ok(puller.wharf("rm", container["Id"]))
        cid = ok(puller.wharf("create", "--platform", "linux/arm64", ref, "true")).strip()  # here now: no pull
        ok(puller.wharf("rm", cid))
    finally:
        puller.wharf("rmi", "-f", ref)


def test_a_push_cut_mid_layer_starts_the_layer_over(wharfd, registry: RegistryServer, tmp_path: Path) -> None:
    """A network that drops the connection 1 MB into the upload: the layer's upload starts
    over after a pause it reports, and what lands is one intact gzip layer."""
    rootfs = tmp_path / "rootfs.tar"
    with tarfile.open(rootfs, "w") as tar:
        info = tarfile.TarInfo("noise")
        info.size = 3 << 20
        tar.addfile(info, io.BytesIO(os.urandom(info.size)))
    proxy = CuttingProxy(registry.port, cut_after=1 << 20)
    ref = f"{proxy.addr}/cut/noise:1"
    try:
        ok(wharfd.wharf("import", str(rootfs), ref))
        out = ok(wharfd.wharf("push", ref))
        assert "Retrying in 1 second" in out and "Pushed" in out, out
        layer = pushed_manifest(registry, "cut/noise", "1")["layers"][0]
        assert layer["mediaType"] == GZIP_LAYER
        tar_bytes = gzip.decompress(blob(registry, layer["digest"]))
        assert json.loads(ok(wharfd.wharf("image", "inspect", ref)))[0]["RootFS"]["Layers"] == [
            "sha256:" + hashlib.sha256(tar_bytes).hexdigest()]
    finally:
        wharfd.wharf("rmi", ref)
        proxy.stop()


def test_build_from_platform_pulls_that_platform(puller, fake: FakeRegistry, tmp_path: Path) -> None:
    fake.add_index("multi", [("linux", "arm64"), ("linux", "amd64")])
    ref = f"{fake.addr}/multi:multi"
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    (ctx / "Dockerfile").write_text(f"FROM --platform=linux/arm64 {ref}\nLABEL built=yes\n")
    try:
        ok(puller.wharf("pull", ref))  # this daemon's platform: not what FROM asks for
        out = ok(puller.wharf("build", "-t", "child:arm", str(ctx)))
        assert "Pull complete" in out and "Successfully tagged child:arm" in out, out
        base = json.loads(ok(puller.wharf("image", "inspect", ref)))[0]
        assert base["Architecture"] == "arm64"
        assert f" ---> {base['Id'][7:19]}\nStep 2/2 : LABEL built=yes" in out, out
        assert "Pull complete" not in ok(puller.wharf("build", "-t", "child:arm", str(ctx)))  # here now
    finally:
        puller.wharf("rmi", "-f", "child:arm", ref)


@pytest.mark.parametrize("limit", [None, 1], ids=["default", "flag"])
def test_layers_download_max_concurrent_downloads_at_once(limit: int | None, make_wharfd,
                                                          fake: FakeRegistry) -> None:
    """Four layers: three fetched at once by default (dockerd's max-concurrent-downloads),
    one at a time with --max-concurrent-downloads=1."""
    d = make_wharfd(with_busybox=False, extra_args=[f"--max-concurrent-downloads={limit}"] if limit else [])
    fake.add_image("four", [{f"layer{i}": os.urandom(64 << 10)} for i in range(4)])
    fake.gather = limit or 3
    ref = f"{fake.addr}/many:four"
    ok(d.wharf("pull", ref))
    assert fake.most_at_once == (limit or 3)
    ok(d.wharf("rmi", ref))
