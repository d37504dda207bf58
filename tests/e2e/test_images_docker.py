"""Interoperability with real Docker: archives cross both ways and run on the other side,
skopeo reads wharf's OCI layout, and the docker CLI manages wharfd's images."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Iterator

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))
from engines import Engine, docker  # noqa: E402
from support.commands import ok  # noqa: E402

needs_dockerd = pytest.mark.skipif(shutil.which("dockerd") is None, reason="dockerd (Debian's docker.io) is not installed")


@pytest.fixture(scope="module")
def dockerd() -> Iterator[Engine]:
    """A private dockerd: own socket, data and exec roots, containerd namespace; no bridge, no iptables."""
    with docker() as engine:
        yield engine


@pytest.fixture(scope="module")
def d(make_wharfd):
    return make_wharfd()


@needs_dockerd
def test_docker_save_loads_into_wharf_and_runs(dockerd: Engine, d, tmp_path: Path) -> None:
    dockerd.run("run", "--name", "dmade", "--network=none", "busybox", "sh", "-c",
                "echo from-docker > /made; rm /etc/group")
    try:
        dockerd.run("commit", "-c", 'CMD ["cat", "/made"]', "dmade", "fromdocker:1")
    finally:
        dockerd.run("rm", "-f", "dmade", check=False)
    docker_id = dockerd.run("image", "inspect", "-f", "{{.Id}}", "fromdocker:1").stdout.strip()
    dockerd.run("save", "-o", str(tmp_path / "d.tar"), "fromdocker:1")
    try:
        assert ok(d.wharf("load", "-i", str(tmp_path / "d.tar"))) == "Loaded image: fromdocker:1\n"
        same_config = ok(d.wharf("image", "inspect", "-f", "{{.Id}}", "fromdocker:1")).strip()
        assert same_config == docker_id  # same config bytes
        assert ok(d.wharf("run", "--rm", "fromdocker:1")) == "from-docker\n"
        assert ok(d.wharf("run", "--rm", "fromdocker:1", "sh", "-c", "test -e /etc/group || echo gone")) == "gone\n"
    finally:
        dockerd.run("rmi", "fromdocker:1", check=False)
        d.wharf("rmi", "fromdocker:1")


@needs_dockerd
def test_wharf_save_loads_into_docker_and_runs(dockerd: Engine, d, tmp_path: Path) -> None:
    ok(d.wharf("run", "--name", "wmade", "busybox", "sh", "-c", "echo from-wharf > /made; rm /etc/passwd"))
    ok(d.wharf("commit", "-c", 'CMD ["cat", "/made"]', "wmade", "fromwharf:1"))
    ok(d.wharf("rm", "wmade"))
    ok(d.wharf("save", "-o", str(tmp_path / "w.tar"), "fromwharf:1"))
    try:
        assert "Loaded image: fromwharf:1" in dockerd.run("load", "-i", str(tmp_path / "w.tar")).stdout
        assert dockerd.run("run", "--rm", "--network=none", "fromwharf:1").stdout == "from-wharf\n"
        gone = dockerd.run("run", "--rm", "--network=none", "fromwharf:1", "sh", "-c", "test -e /etc/passwd || echo gone")
        assert gone.stdout == "gone\n"
        wharf_id = ok(d.wharf("image", "inspect", "-f", "{{.Id}}", "fromwharf:1")).strip()
        assert dockerd.run("image", "inspect", "-f", "{{.Id}}", "fromwharf:1").stdout.strip() == wharf_id
    finally:
        dockerd.run("rmi", "fromwharf:1", check=False)
        d.wharf("rmi", "fromwharf:1")


@pytest.mark.skipif(shutil.which("skopeo") is None, reason="skopeo is not installed")
def test_skopeo_reads_wharfs_oci_layout(d, tmp_path: Path) -> None:
    ok(d.wharf("save", "-o", str(tmp_path / "w.tar"), "busybox"))
    layer = json.loads(ok(d.wharf("image", "inspect", "busybox")))[0]["RootFS"]["Layers"][0]
    raw = subprocess.run(["skopeo", "inspect", "--raw", f"oci-archive:{tmp_path / 'w.tar'}"],
                         capture_output=True, text=True, check=True).stdout
    manifest = json.loads(raw)
    assert manifest["mediaType"] == "application/vnd.oci.image.manifest.v1+json"
    assert [entry["digest"] for entry in manifest["layers"]] == [layer]
    # a full copy verifies every blob against its digest
    subprocess.run(["skopeo", "copy", f"oci-archive:{tmp_path / 'w.tar'}", f"dir:{tmp_path / 'copy'}"],
                   capture_output=True, text=True, check=True)
    assert (tmp_path / "copy" / layer.split(":")[1]).stat().st_size > 1_000_000


def test_docker_cli_manages_wharfs_images(d, tmp_path: Path) -> None:
    ok(d.docker("tag", "busybox", "viadocker:1"))
    assert "viadocker" in ok(d.docker("images"))
    assert ok(d.docker("history", "-q", "viadocker:1")).split() == ok(d.docker("images", "-q", "busybox")).split()
    assert json.loads(ok(d.docker("inspect", "viadocker:1")))[0]["RepoTags"] == ["busybox:latest", "viadocker:1"]
    ok(d.docker("save", "-o", str(tmp_path / "v.tar"), "viadocker:1"))
    assert ok(d.docker("rmi", "viadocker:1")) == "Untagged: viadocker:1\n"
    assert "Loaded image: viadocker:1" in ok(d.docker("load", "-i", str(tmp_path / "v.tar")))
    ok(d.docker("rmi", "viadocker:1"))
