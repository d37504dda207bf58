"""Fixtures for the shim's tests; the bundles themselves are in ``shimbox``."""

from __future__ import annotations

from typing import Iterator

import pytest

from shimbox import Bundle, discard, new_base


@pytest.fixture(params=["wharf", "runc"])
def bundle(request: pytest.FixtureRequest) -> Iterator[Bundle]:
    b = Bundle(new_base(), request.param)
    yield b
    discard(b)
