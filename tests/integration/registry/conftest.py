"""Fixtures: registry servers that are always reaped, and skopeo with a private auth file."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest

from regserver import RegistryServer


@pytest.fixture
def serve(tmp_path: Path) -> Iterator[Callable[..., RegistryServer]]:
    started: list[RegistryServer] = []

    def start(*flags: str, root: Path | None = None, **options: Any) -> RegistryServer:
        server = RegistryServer(root or tmp_path / "root", *flags, **options)
        started.append(server)
        return server.start()

    yield start
    for server in started:
        server.stop()


@pytest.fixture
def skopeo(tmp_path: Path) -> Callable[..., subprocess.CompletedProcess[str]]:
    if shutil.which("skopeo") is None:
        pytest.skip("skopeo is not installed")
    env = {**os.environ, "REGISTRY_AUTH_FILE": str(tmp_path / "skopeo-auth.json")}

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(["skopeo", *args], capture_output=True, text=True, timeout=120, env=env)
    return run
