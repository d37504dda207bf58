"""The real docker CLI against wharfd: login, push, pull, logout through a Bearer registry."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "integration" / "registry_client"))
from registries import PASSWORD, USER, wharf_registry  # noqa: E402
from support.daemon import DOCKER  # noqa: E402

pytestmark = pytest.mark.skipif(not Path(DOCKER).exists(), reason="the docker CLI is not installed")


def test_docker_cli_login_push_pull_logout(wharfd, busybox, tmp_path: Path) -> None:
    server = wharf_registry(tmp_path, "bearer")
    ref = f"{server.addr}/team/busybox:docker-cli"
    config = wharfd.docker_config / "config.json"
    try:
        bad = wharfd.docker("login", "-u", USER, "--password-stdin", server.addr, input="nope\n")
        assert bad.returncode == 1 and "unauthorized" in bad.stderr, bad.stderr
        assert server.addr not in (json.loads(config.read_text()).get("auths", {}) if config.exists() else {})
        login = wharfd.docker("login", "-u", USER, "--password-stdin", server.addr, input=PASSWORD + "\n")
        assert login.returncode == 0 and "Login Succeeded" in login.stdout, login.stderr
        assert wharfd.docker("tag", "busybox:latest", ref).returncode == 0
        push = wharfd.docker("push", ref)
        assert push.returncode == 0, push.stderr
        assert "Pushed" in push.stdout and "docker-cli: digest: sha256:" in push.stdout, push.stdout
        assert wharfd.docker("rmi", ref).returncode == 0
        pull = wharfd.docker("pull", ref)
        assert pull.returncode == 0, pull.stderr
        assert f"Status: Image is up to date for {ref}" in pull.stdout or "Downloaded newer image" in pull.stdout
        assert pull.stdout.strip().endswith(ref)
        missing = wharfd.docker("pull", f"{server.addr}/team/busybox:missing")
        assert missing.returncode == 1 and "manifest unknown" in missing.stderr, missing.stderr
        logout = wharfd.docker("logout", server.addr)
        assert logout.returncode == 0 and f"Removing login credentials for {server.addr}" in logout.stdout
        denied = wharfd.docker("push", ref)
        assert denied.returncode == 1 and "unauthorized" in denied.stderr, denied.stderr
    finally:
        wharfd.docker("rmi", "-f", ref)
        wharfd.docker("logout", server.addr)
        server.stop()
