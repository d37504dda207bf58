"""A rootless daemon's places, its subordinate ids, and the CLI finding its socket."""

from __future__ import annotations

import os
import pwd
from pathlib import Path

import pytest

from wharf.client import http
from wharf.config import rootless_defaults
from wharf.daemon import rootless


def test_state_lives_under_the_users_xdg_dirs(monkeypatch: pytest.MonkeyPatch,
                                               tmp_path: Path) -> None:
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(tmp_path / "run"))
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.delenv("XDG_DATA_HOME", raising=False)
    monkeypatch.delenv("XDG_CONFIG_HOME", raising=False)
    config = rootless_defaults()
    assert config.data_root == f"{tmp_path}/home/.local/share/wharf"
    assert config.exec_root == f"{tmp_path}/run/wharf"
    assert config.hosts == [f"unix://{tmp_path}/run/wharf.sock"]
    assert config.certs_dir == f"{tmp_path}/home/.config/wharf/certs.d"
    assert (config.cri_socket, config.cgroup_driver, config.live_restore) == ("", "none", False)


def test_no_runtime_dir_no_rootless(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("XDG_RUNTIME_DIR", raising=False)
    with pytest.raises(ValueError, match="XDG_RUNTIME_DIR needs to be set"):
        rootless_defaults()


def test_subordinate_range_by_name_or_uid(tmp_path: Path) -> None:
    me = pwd.getpwuid(os.getuid())
    path = tmp_path / "subuid"
    path.write_text(f"other:1:2\n{me.pw_uid}:200000:65536\n{me.pw_name}:300000:10\n")
    assert rootless.subordinate_range(str(path), me) == (200000, 65536)
    path.write_text("other:1:2\n")
    with pytest.raises(rootless.RootlessError, match="no subordinate ids"):
        rootless.subordinate_range(str(path), me)


def test_cli_finds_a_users_rootless_socket(monkeypatch: pytest.MonkeyPatch,
                                           tmp_path: Path) -> None:
    monkeypatch.delenv("DOCKER_HOST", raising=False)
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(tmp_path))
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    assert http.default_host() == http.DEFAULT_HOST  # no socket: root's daemon
    (tmp_path / "wharf.sock").touch()
    assert http.default_host() == f"unix://{tmp_path}/wharf.sock"
    monkeypatch.setenv("DOCKER_HOST", "tcp://127.0.0.1:2375")
    assert http.default_host() == "tcp://127.0.0.1:2375"
    monkeypatch.delenv("DOCKER_HOST")
    monkeypatch.setattr(os, "geteuid", lambda: 0)  # root's CLI talks to root's daemon
    assert http.default_host() == http.DEFAULT_HOST
