"""Detach keys and exit-code mapping."""

from __future__ import annotations

import pytest

from wharf.cli.common import start_error_status
from wharf.cli.tty import EscapeProxy, parse_detach_keys


def test_parse_detach_keys() -> None:
    assert parse_detach_keys("ctrl-p,ctrl-q") == b"\x10\x11"
    assert parse_detach_keys("ctrl-@,ctrl-[,a") == b"\x00\x1ba"
    with pytest.raises(ValueError, match=r"Invalid detach keys \(ctrl-pq\) provided"):
        parse_detach_keys("ctrl-pq")


def test_escape_proxy_holds_then_releases_a_broken_prefix() -> None:
    proxy = EscapeProxy(b"\x10\x11")
    assert proxy.feed(b"ab\x10") == (b"ab", False)
    assert proxy.feed(b"x") == (b"\x10x", False)
    assert proxy.feed(b"ls\x10\x11rest") == (b"ls", True)


@pytest.mark.parametrize("message, status", [
    ('exec: "nope": executable file not found in $PATH', 127),
    ("exec /bin/x: no such file or directory", 127),
    ('exec: "/etc": permission denied', 126),
    ("No such container: x", 125),
])
def test_start_error_status(message: str, status: int) -> None:
    assert start_error_status(message) == status
