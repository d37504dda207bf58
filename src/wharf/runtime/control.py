"""What the daemon does to a running container, whichever runtime started it.

The in-process runtime leaves nothing but a pid and a cgroup, so signals go
straight to the pid and pause/resume go to the cgroup freezer. An external
runtime keeps its own state, so it is asked to do these itself (its
``state`` would lie otherwise). Stats come from the cgroup for both.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

from wharf.runtime import cgroups
from wharf.runtime.oci import OCIRuntime

IN_PROCESS = "wharf"


@dataclass
class Target:
    """A running container as the daemon knows it."""

    id: str
    pid: int
    cgroups_path: str
    runtime: str = IN_PROCESS
    #: ``--root`` of the external runtime's state (None: the binary's default).
    runtime_root: str | None = None

    def oci(self) -> OCIRuntime | None:
        return None if self.runtime == IN_PROCESS else OCIRuntime(self.runtime, self.runtime_root)

    def cgroup(self) -> cgroups.V1Cgroup | cgroups.V2Cgroup:
        return cgroups.open(self.cgroups_path)


def kill(target: Target, sig: int) -> None:
    """Signal the container's init (``ProcessLookupError`` when it is gone)."""
    runtime = target.oci()
    if runtime is None:
        os.kill(target.pid, sig)
    else:
        runtime.kill(target.id, sig)


def pause(target: Target) -> None:
    runtime = target.oci()
    if runtime is None:
        target.cgroup().freeze()
    else:
        runtime.pause(target.id)


def resume(target: Target) -> None:
    runtime = target.oci()
    if runtime is None:
        target.cgroup().thaw()
    else:
        runtime.resume(target.id)


def stats(target: Target) -> dict[str, Any]:
    """Docker's stats body parts (memory_stats, cpu_stats, pids_stats)."""
    return target.cgroup().stats()
