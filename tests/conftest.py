"""Fixtures shared by the integration and e2e suites.

Each daemon a test session starts is private (see ``support.daemon``). At
teardown the daemon is stopped and the fixture asserts that nothing it made
is left in the kernel: no mount under its roots, no cgroup under its parent,
no shim or container process. Leftovers are then removed anyway, so one
leaking test does not poison the next run.
"""

from __future__ import annotations

import os
from typing import Any, Iterator

import pytest

from support.daemon import Daemon


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Integration and e2e tests need root and the real kernel; unit tests do not."""
    if os.geteuid() == 0:
        return
    skip = pytest.mark.skip(reason="needs root (real namespaces, mounts, cgroups)")
    for item in items:
        if "/unit/" not in str(item.fspath):
            item.add_marker(skip)


@pytest.fixture(scope="session")
def make_wharfd() -> Iterator[Any]:
    """Factory for private daemons (for tests that kill or restart theirs)."""
    made: list[Daemon] = []

    def make(with_busybox: bool = True, **options: Any) -> Daemon:
        """``options`` go to ``Daemon`` (``data_disk_mb=256``: a data root of that size)."""
        d = Daemon(**options)
        made.append(d)
        d.start()
        if with_busybox:
            _bootstrap_busybox(d)
        return d

    yield make
    problems = []
    for d in made:
        problems += d.shutdown()
    assert not problems, "leaked:\n" + "\n".join(problems)


@pytest.fixture(scope="session")
def wharfd() -> Iterator[Daemon]:
    """The session's shared daemon (one per xdist worker)."""
    d = Daemon()
    try:
        d.start()
    except Exception:
        d.purge()  # what a daemon that never answered made (start() killed it)
        raise
    yield d
    problems = d.shutdown()
    assert not problems, "leaked:\n" + "\n".join(problems)


@pytest.fixture(scope="session")
def busybox(wharfd: Daemon) -> str:
    """``busybox:latest`` in the shared daemon, made from the host's busybox-static."""
    return _bootstrap_busybox(wharfd)


def _bootstrap_busybox(d: Daemon) -> str:
    r = d.wharf("image", "bootstrap", "busybox")
    assert r.returncode == 0, r.stderr
    return "busybox:latest"
