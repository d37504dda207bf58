"""Fixtures of the runtime's integration tests."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Iterator

import pytest

from rtbox import Box
from wharf.linux import mountinfo


@pytest.fixture
def box(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Box]:
    base = tmp_path_factory.mktemp("wharf-test-box")
    b = Box(base)
    yield b
    b.cleanup()
    leftover = mountinfo.below(str(base))
    shutil.rmtree(base, ignore_errors=True)
    assert not leftover, leftover
    assert not list(Path("/sys/fs/cgroup").glob("*/" + b.cgroups_path.split("/")[1]))
