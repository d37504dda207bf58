"""``wharfd --registry-mirror``: Docker Hub pulls go to the mirrors in order, a
mirror that is down hands the pull on to the next, and ``docker info`` lists
them. The mirrors are wharf's own registry on loopback; nothing reaches the Hub."""

from __future__ import annotations

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "integration" / "registry_client"))
from registries import free_port, wharf_registry  # noqa: E402
from support.commands import ok  # noqa: E402


def test_pull_through_mirror_after_a_dead_one(make_wharfd, tmp_path: Path) -> None:
    mirror = wharf_registry(tmp_path, "open")
    dead = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    try:
        d = make_wharfd(extra_args=["--registry-mirror", dead,
                                    "--registry-mirror", f"http://{mirror.addr}"])
        # the mirror holds what Docker Hub would: library/<name>
        ok(d.wharf("tag", "busybox:latest", f"{mirror.addr}/library/mirrored:v1"))
        ok(d.wharf("push", f"{mirror.addr}/library/mirrored:v1"))
        pushed = json.loads(ok(d.wharf("image", "inspect", "busybox:latest")))[0]["Id"]
        ok(d.wharf("rmi", f"{mirror.addr}/library/mirrored:v1"))

        pull = ok(d.docker("pull", "mirrored:v1"))
        assert "Status: Downloaded newer image for mirrored:v1" in pull, pull
        pulled = json.loads(ok(d.docker("image", "inspect", "docker.io/library/mirrored:v1")))[0]
        assert pulled["Id"] == pushed
        run = ok(d.docker("run", "--rm", "--network=none", "mirrored:v1", "echo", "via-mirror"))
        assert run.strip() == "via-mirror"

        info = json.loads(ok(d.docker("info", "--format", "{{json .RegistryConfig}}")))
        assert info["Mirrors"] == [f"{dead}/", f"http://{mirror.addr}/"]
        assert info["IndexConfigs"]["docker.io"]["Mirrors"] == info["Mirrors"]
        for cli in (d.docker, d.wharf):
            text = ok(cli("info"))
            assert f" Registry Mirrors:\n  {dead}/\n  http://{mirror.addr}/\n" in text, text
    finally:
        mirror.stop()


def test_mirror_without_the_image_passes_on(make_wharfd, tmp_path: Path) -> None:
    """A mirror that answers but lacks the image is skipped like a dead one: the next
    mirror serves it."""
    for sub in ("a", "b"):
        (tmp_path / sub).mkdir()
    empty, full = wharf_registry(tmp_path / "a", "open"), wharf_registry(tmp_path / "b", "open")
    try:
        d = make_wharfd(extra_args=["--registry-mirror", f"http://{empty.addr}",
                                    "--registry-mirror", f"http://{full.addr}/"])
        ok(d.wharf("tag", "busybox:latest", f"{full.addr}/library/second:v1"))
        ok(d.wharf("push", f"{full.addr}/library/second:v1"))
        ok(d.wharf("rmi", f"{full.addr}/library/second:v1"))
        pull = ok(d.wharf("pull", "second:v1"))
        assert "Status: Downloaded newer image for second:v1" in pull, pull
        status, body = d.api("GET", "/distribution/second:v1/json")
        assert status == 200 and body["Descriptor"]["digest"].startswith("sha256:"), body
    finally:
        empty.stop()
        full.stop()
