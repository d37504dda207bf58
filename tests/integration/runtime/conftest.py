"""Fixtures of the runtime's integration tests."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Iterator

import pytest

from rtbox import Box


@pytest.fixture
def box(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Box]:
    base = tmp_path_factory.mktemp("wharf-test-box")
    b = Box(base)
    yield b
    b.cleanup()
    leftover = [line for line in Path("/proc/self/mountinfo").read_text().splitlines()
                if str(base) in line]
    shutil.rmtree(base, ignore_errors=True)
    assert not leftover, leftover
    assert not list(Path("/sys/fs/cgroup").glob("*/" + b.cgroups_path.split("/")[1]))

