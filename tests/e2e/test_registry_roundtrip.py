"""wharf → a registry → wharf: push, remove, pull back, run; with wharf's registry
(open, Basic, Bearer) and with the real distribution registry (Debian's docker-registry)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Iterator

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "integration" / "registry_client"))
from registries import PASSWORD, USER, DistributionRegistry, wharf_registry  # noqa: E402
from support.commands import ok  # noqa: E402
from support.daemon import DOCKER  # noqa: E402


def saved_auths(d) -> dict:
    path = d.docker_config / "config.json"
    return json.loads(path.read_text()).get("auths", {}) if path.exists() else {}


@pytest.fixture(scope="module")
def puller(make_wharfd):
    """A second daemon, empty: what it runs can only have come through the registry."""
    return make_wharfd(with_busybox=False)


def login(d, addr: str) -> None:
    r = d.wharf("login", "-u", USER, "--password-stdin", addr, input=PASSWORD + "\n")
    assert r.returncode == 0 and "Login Succeeded" in r.stdout, r.stderr


def roundtrip(pusher, puller, ref: str) -> None:
    """Push ``busybox`` as ``ref`` from one daemon, pull it into the other, run it, remove it."""
    ok(pusher.wharf("tag", "busybox:latest", ref))
    push = ok(pusher.wharf("push", ref))
    assert "Pushed" in push and f"{ref.rsplit(':', 1)[1]}: digest: sha256:" in push, push
    again = ok(pusher.wharf("push", ref))
    assert "Layer already exists" in again and "Pushed" not in again, again
    pull = ok(puller.wharf("pull", ref))
    assert "Pull complete" in pull and f"Status: Downloaded newer image for {ref}" in pull, pull
    assert "Image is up to date" in ok(puller.wharf("pull", ref))
    pushed = json.loads(ok(pusher.wharf("image", "inspect", ref)))[0]
    pulled = json.loads(ok(puller.wharf("image", "inspect", ref)))[0]
    assert pulled["Id"] == pushed["Id"] and pulled["RepoDigests"] == pushed["RepoDigests"]
    run = puller.wharf("run", "--rm", "--network=none", ref, "echo", "pulled-and-ran")
    assert run.returncode == 0 and run.stdout.strip() == "pulled-and-ran", run.stderr
    ok(puller.wharf("rmi", ref))
    ok(pusher.wharf("rmi", ref))


@pytest.mark.parametrize("mode", ["open", "basic", "bearer"])
def test_wharf_registry_roundtrip(mode: str, wharfd, busybox, puller, tmp_path: Path) -> None:
    server = wharf_registry(tmp_path, mode)
    ref = f"{server.addr}/team/busybox:{mode}"
    try:
        if mode != "open":
            ok(wharfd.wharf("tag", "busybox:latest", ref))
            refused = wharfd.wharf("push", ref)
            assert refused.returncode == 1 and "unauthorized" in refused.stderr, refused.stderr
            bad = wharfd.wharf("login", "-u", USER, "--password-stdin", server.addr, input="wrong\n")
            assert bad.returncode == 1 and "unauthorized" in bad.stderr, bad.stderr
            assert server.addr not in saved_auths(wharfd)
            plain = wharfd.wharf("login", "-u", USER, "-p", PASSWORD, server.addr)
            assert plain.returncode == 0 and "Login Succeeded" in plain.stdout, plain.stderr
            assert "stored unencrypted" in plain.stderr and "Use --password-stdin" in plain.stderr
            assert server.addr in saved_auths(wharfd)
            login(puller, server.addr)
        roundtrip(wharfd, puller, ref)
        if mode != "open":
            out = ok(wharfd.wharf("logout", server.addr))
            assert f"Removing login credentials for {server.addr}" in out
            assert server.addr not in saved_auths(wharfd)
            assert "Not logged in" in ok(wharfd.wharf("logout", server.addr))
    finally:
        for d in (wharfd, puller):
            d.wharf("rmi", "-f", ref)
            d.wharf("logout", server.addr)
        server.stop()


@pytest.fixture
def distribution(tmp_path: Path) -> Iterator[DistributionRegistry]:
    if shutil.which("docker-registry") is None:
        pytest.skip("docker-registry (Debian) is not installed")
    server = DistributionRegistry(tmp_path).start()
    yield server
    server.stop()


def test_distribution_registry_roundtrip(wharfd, busybox, puller, distribution: DistributionRegistry) -> None:
    ref = f"{distribution.addr}/team/busybox:dist"
    try:
        for d in (wharfd, puller):
            login(d, distribution.addr)
        roundtrip(wharfd, puller, ref)
        # a second repository on the same registry gets the layer by a cross-repository mount
        other = f"{distribution.addr}/other/busybox:dist"
        ok(wharfd.wharf("tag", "busybox:latest", other))
        assert "Mounted from team/busybox" in ok(wharfd.wharf("push", other))
    finally:
        wharfd.wharf("rmi", "-f", ref, f"{distribution.addr}/other/busybox:dist")
        for d in (wharfd, puller):
            d.wharf("rmi", "-f", ref)
            d.wharf("logout", distribution.addr)


def test_build_pulls_a_missing_base_image_with_the_callers_credentials(wharfd, busybox, puller,
                                                                       tmp_path: Path) -> None:
    """FROM an image the daemon does not have: pulled from a registry that wants a login,
    with the credentials wharf's CLI and docker's send in X-Registry-Config."""
    server = wharf_registry(tmp_path, "basic")
    ref = f"{server.addr}/team/base:1"
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    (ctx / "Dockerfile").write_text(f"FROM {ref}\nRUN echo built > /built\n")
    try:
        login(wharfd, server.addr)
        ok(wharfd.wharf("tag", "busybox:latest", ref))
        ok(wharfd.wharf("push", ref))
        anonymous = puller.wharf("build", "-t", "child:1", str(ctx))
        assert anonymous.returncode == 1 and "unauthorized" in anonymous.stdout + anonymous.stderr
        login(puller, server.addr)
        out = ok(puller.wharf("build", "-t", "child:1", str(ctx)))
        assert "Pull complete" in out and "Successfully tagged child:1" in out, out
        run = puller.wharf("run", "--rm", "--network=none", "child:1", "cat", "/built")
        assert run.stdout == "built\n", run.stderr
        ok(puller.wharf("rmi", "child:1", ref))
        docker = subprocess.run([DOCKER, "build", "-t", "child:2", str(ctx)], capture_output=True,
                                text=True, timeout=120, env={**puller.env, "DOCKER_BUILDKIT": "0"})
        assert docker.returncode == 0 and "Successfully tagged child:2" in docker.stdout, docker.stderr
        ok(puller.wharf("rmi", "child:2", ref))
    finally:
        server.stop()
        wharfd.wharf("rmi", ref)
        for who in (wharfd, puller):
            who.wharf("logout", server.addr)
