"""containerd's hosts.toml read as pull endpoints (``wharf.registry.client.hosts``)."""

from __future__ import annotations

from pathlib import Path

import pytest

from wharf.errors import InvalidParameter
from wharf.registry.client.endpoints import Endpoint
from wharf.registry.client.hosts import pull_hosts


def _write(root: Path, registry: str, text: str) -> None:
    (root / registry).mkdir(parents=True)
    (root / registry / "hosts.toml").write_text(text)


def test_mirror_then_server(tmp_path: Path) -> None:
    _write(tmp_path, "registry.k8s.io", '''
server = "https://registry.k8s.io"
[host."http://127.0.0.1:5399"]
  capabilities = ["pull", "resolve"]
[host."https://push-only.example"]
  capabilities = ["push"]
[host."mirror.example:5000"]
''')
    assert pull_hosts(str(tmp_path), "registry.k8s.io") == [
        Endpoint("127.0.0.1:5399", "http", mirror=True),
        Endpoint("mirror.example:5000", "https", mirror=True),
        Endpoint("registry.k8s.io", "https")]


def test_server_only_loopback_is_the_registry(tmp_path: Path) -> None:
    """critest's setup: the mirror is also the server, tried once, never the internet."""
    _write(tmp_path, "gcr.io", 'server = "http://127.0.0.1:5399"\n'
                               '[host."http://127.0.0.1:5399"]\n  capabilities = ["pull"]\n')
    assert pull_hosts(str(tmp_path), "gcr.io") == [Endpoint("127.0.0.1:5399", "http")]


def test_no_file_no_dir_and_hub_default(tmp_path: Path) -> None:
    assert pull_hosts(str(tmp_path), "quay.io") is None
    assert pull_hosts("", "quay.io") is None
    _write(tmp_path, "docker.io", '[host."http://127.0.0.1:1"]\n')
    assert pull_hosts(str(tmp_path), "docker.io")[-1] == Endpoint("registry-1.docker.io")


def test_broken_file_is_the_pulls_error(tmp_path: Path) -> None:
    _write(tmp_path, "gcr.io", "server = \n")
    with pytest.raises(InvalidParameter, match="hosts.toml"):
        pull_hosts(str(tmp_path), "gcr.io")
