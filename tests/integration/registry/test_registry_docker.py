"""The real docker CLI and dockerd push to and pull from wharf's registry: open, Basic and Bearer."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path
from typing import Callable, Iterator

import bcrypt
import pytest

from regserver import RegistryServer, free_port

sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "bench"))
from engines import Engine, docker  # noqa: E402

pytestmark = pytest.mark.skipif(shutil.which("dockerd") is None, reason="dockerd is not installed")


@pytest.fixture(scope="module")
def dockerd() -> Iterator[Engine]:
    """One private dockerd (own socket, data root, no bridge, no iptables) for the module."""
    with docker() as engine:
        yield engine


@pytest.mark.parametrize("mode", ["open", "basic", "bearer"])
def test_docker_push_pull_run(mode: str, tmp_path: Path, serve: Callable[..., RegistryServer],
                              dockerd: Engine) -> None:
    htpasswd = tmp_path / "htpasswd"
    htpasswd.write_text(f"alice:{bcrypt.hashpw(b's3cret', bcrypt.gensalt(rounds=4)).decode()}\n")
    port = free_port()
    flags = {"open": [], "basic": ["--htpasswd", str(htpasswd)],
             "bearer": ["--htpasswd", str(htpasswd), "--token-realm", f"http://127.0.0.1:{port}/token"]}[mode]
    server = serve(*flags, port=port)
    ref = f"{server.addr}/team/busybox:{mode}"
    dockerd.run("tag", "busybox:latest", ref)
    try:
        if mode != "open":
            bad = dockerd.run("login", "-u", "alice", "-p", "wrong", server.addr, check=False)
            assert bad.returncode != 0 and "unauthorized" in bad.stderr.lower(), bad.stderr
            push = dockerd.run("push", ref, check=False)
            refusals = ("no basic auth credentials", "unauthorized",          # Basic
                        "requested access to the resource is denied")     # Bearer, as Docker Hub
            assert push.returncode != 0 and any(r in push.stderr for r in refusals), push.stderr
            dockerd.run("login", "-u", "alice", "-p", "s3cret", server.addr)
        push = dockerd.run("push", ref)
        assert "digest: sha256:" in push.stdout
        dockerd.run("rmi", ref)
        pull = dockerd.run("pull", ref)
        assert "Downloaded newer image" in pull.stdout
        run = dockerd.run("run", "--rm", "--network=none", ref, "echo", "pulled-and-ran")
        assert run.stdout.strip() == "pulled-and-ran"
    finally:
        dockerd.run("rmi", "-f", ref, check=False)
        dockerd.run("logout", server.addr, check=False)
