"""A private wharfd started with extra listener flags (TLS, plain TCP), for the
security tests: the shared fixtures start daemons with a unix socket only."""

from __future__ import annotations

import contextlib
import socket
from pathlib import Path
from typing import Iterator

import pytest

import support.daemon as daemon_mod
from support.daemon import Daemon


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def daemon_with(bindir: Path, extra: str) -> Iterator[Daemon]:
    """A started Daemon whose wharfd also gets ``extra`` (shell words); cleaned up after.

    ``bindir`` gets a ``wharfd`` wrapper adding the flags and the real ``wharf``.
    """
    real = daemon_mod.BIN
    (bindir / "wharfd").write_text(f'#!/bin/sh\nexec {real}/wharfd "$@" {extra}\n')
    (bindir / "wharfd").chmod(0o755)
    (bindir / "wharf").symlink_to(real / "wharf")
    mp = pytest.MonkeyPatch()
    mp.setattr(daemon_mod, "BIN", bindir)
    d = Daemon()
    try:
        d.start()
        yield d
    finally:
        problems = d.shutdown()
        mp.undo()
    assert not problems, problems
