"""Fixtures for the shim's tests: a bundle run by each runtime, an exec root of bundles
for a launcher (the bundles themselves are in ``shimbox``)."""

from __future__ import annotations

from typing import Iterator

import pytest

from shimbox import Bundle, Root, discard, new_base


@pytest.fixture(params=["wharf", "runc"])
def bundle(request: pytest.FixtureRequest) -> Iterator[Bundle]:
    b = Bundle(new_base(), request.param)
    yield b
    discard(b)


@pytest.fixture
def root() -> Iterator[Root]:
    r = Root()
    yield r
    for b in r.bundles:
        discard(b)
    host_log = r.path / "shimhost.log"  # a test that makes a shim fail reads and removes it
    errors = host_log.read_text() if host_log.exists() else ""
    host_log.unlink(missing_ok=True)
    r.path.rmdir()
    assert not errors, f"the shim host logged errors:\n{errors}"
