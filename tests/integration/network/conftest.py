"""The ``lab`` fixture: a private set of namespaces, bridges and an nft table, checked for leaks."""

from __future__ import annotations

from typing import Iterator

import pytest

from netlab import Lab


@pytest.fixture
def lab() -> Iterator[Lab]:
    lab = Lab()
    try:
        yield lab
    finally:
        left = lab.teardown()
    assert not left, f"left behind: {left}"

