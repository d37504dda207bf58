"""Limits a rootless daemon's delegated cgroup cannot set: dropped with dockerd's
warnings, at create and at update, as dockerd on a host without the controller."""

from __future__ import annotations

import pytest

from wharf.config import DaemonConfig
from wharf.engine import update
from wharf.errors import InvalidParameter


def rootless(*controllers: str) -> DaemonConfig:
    return DaemonConfig(rootless=True, delegated_cgroup="/u/wharfd.service",
                        delegated_controllers=controllers)


def test_limits_of_controllers_not_delegated_are_dropped_with_dockers_words() -> None:
    hc = {"Memory": 32 << 20, "MemorySwap": 64 << 20, "MemoryReservation": 16 << 20,
          "PidsLimit": 10, "CpuShares": 512, "CpuQuota": 50000, "CpusetCpus": "0"}
    warnings = update.unsupported(hc, rootless("memory"))
    assert warnings == [
        "Your kernel does not support PIDs limit capabilities or the cgroup is not mounted. "
        "PIDs limit discarded.",
        "Your kernel does not support CPU shares or the cgroup is not mounted. Shares discarded.",
        "Your kernel does not support CPU CFS scheduler. CPU period/quota discarded.",
        "Your kernel does not support cpuset or the cgroup is not mounted. Cpuset discarded."]
    assert hc == {"Memory": 32 << 20, "MemorySwap": 64 << 20, "MemoryReservation": 16 << 20,
                  "PidsLimit": None, "CpuShares": 0, "CpuPeriod": 0, "CpuQuota": 0,
                  "CpusetCpus": "", "CpusetMems": ""}


def test_memory_not_delegated() -> None:
    hc = {"Memory": 32 << 20, "MemorySwap": 64 << 20}
    assert update.unsupported(hc, rootless("cpu", "pids")) == [
        "Your kernel does not support memory limit capabilities or the cgroup is not mounted. "
        "Limitation discarded."]
    assert hc == {"Memory": 0, "MemorySwap": 0}


def test_cpus_without_the_cpu_controller_is_refused_as_dockerd_does() -> None:
    with pytest.raises(InvalidParameter, match="NanoCPUs can not be set"):
        update.unsupported({"NanoCpus": 500_000_000}, rootless("memory"))


def test_everything_delegated_or_rootful_keeps_every_limit() -> None:
    hc = {"Memory": 32 << 20, "PidsLimit": 10, "CpuShares": 512, "NanoCpus": 10**9}
    assert update.unsupported(dict(hc), rootless("cpuset", "cpu", "io", "memory", "pids")) == []
    assert update.unsupported(dict(hc), DaemonConfig()) == []
    assert update.unsupported(dict(hc), DaemonConfig(rootless=True)) == []  # none: as today
