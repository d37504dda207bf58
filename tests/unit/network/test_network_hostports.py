"""The rootless port driver's protocol: the parent binds, the daemon gets the socket."""

from __future__ import annotations

import errno
import os
import socket
import threading
from pathlib import Path

import pytest

from wharf.network import hostports


def _parent(path: Path, requests: int) -> threading.Thread:
    """A parent that answers ``requests`` requests on ``path``."""
    api = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    api.bind(str(path))
    api.listen()

    def serve() -> None:
        with api:
            for _ in range(requests):
                conn, _ = api.accept()
                with conn:
                    hostports.serve(conn)
    thread = threading.Thread(target=serve)
    thread.start()
    return thread


def test_the_daemon_gets_a_socket_bound_by_the_parent(tmp_path: Path) -> None:
    parent = _parent(tmp_path / "api.sock", 2)
    try:
        with hostports.bind(str(tmp_path / "api.sock"), "tcp", "127.0.0.1", 0) as sock:
            host, port = sock.getsockname()
            assert host == "127.0.0.1" and port > 0
            sock.listen()
            with pytest.raises(OSError) as taken:  # held by a listener: a second bind says so
                hostports.bind(str(tmp_path / "api.sock"), "tcp", "127.0.0.1", port)
            assert taken.value.errno == errno.EADDRINUSE
    finally:
        parent.join()


def test_a_udp_socket_too(tmp_path: Path) -> None:
    parent = _parent(tmp_path / "api.sock", 1)
    try:
        with hostports.bind(str(tmp_path / "api.sock"), "udp", "127.0.0.1", 0) as sock:
            assert sock.type == socket.SOCK_DGRAM
    finally:
        parent.join()


def test_a_parent_that_is_gone_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(OSError):
        hostports.bind(str(tmp_path / "none.sock"), "tcp", "127.0.0.1", 0)
    assert not os.path.exists(tmp_path / "none.sock")


def test_a_privileged_port_says_how_to_allow_it(tmp_path: Path) -> None:
    if os.geteuid() == 0:
        pytest.skip("root may bind any port")
    parent = _parent(tmp_path / "api.sock", 1)
    try:
        with pytest.raises(OSError) as refused:
            hostports.bind(str(tmp_path / "api.sock"), "tcp", "127.0.0.1", 80)
        assert refused.value.errno == errno.EACCES
        assert "net.ipv4.ip_unprivileged_port_start=80" in refused.value.strerror
    finally:
        parent.join()
