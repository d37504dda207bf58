"""``docker stats`` and ``docker top``: looking at a running container from the host.

Stats come from the container's cgroup (``wharf.runtime.cgroups``, already in
Docker's JSON shape); each sample carries the previous one as ``precpu_stats``
so clients compute CPU % from one message. ``top`` runs the host's ``ps`` and
keeps the rows of the container's pids, as dockerd does.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import time
from typing import Any, AsyncIterator

from wharf.engine.container import Container
from wharf.engine.timefmt import ZERO_TIME, rfc3339nano
from wharf.errors import Conflict, InvalidParameter
from wharf.runtime import cgroups

INTERVAL = 1.0


def _empty_sample() -> dict[str, Any]:
    return {"cpu_stats": {"cpu_usage": {"total_usage": 0, "usage_in_kernelmode": 0,
                                        "usage_in_usermode": 0},
                          "throttling_data": {"periods": 0, "throttled_periods": 0,
                                              "throttled_time": 0}},
            "memory_stats": {}, "pids_stats": {}}


def _sample(c: Container, cgroups_path: str) -> dict[str, Any]:
    if not c.running or not cgroups_path:  # no cgroup (rootless): nothing is counted
        return _empty_sample()
    try:
        return cgroups.open(cgroups_path).stats()
    except OSError:  # it exited between our look and the read
        return _empty_sample()


async def stats(c: Container, cgroups_path: str, stream: bool,
                one_shot: bool = False) -> AsyncIterator[dict[str, Any]]:
    """Docker's stats messages: one (after a 1 s pre-sample unless ``one_shot``), or one a second."""
    previous, previous_at = _empty_sample(), ZERO_TIME
    if not stream and not one_shot:
        previous, previous_at = await asyncio.to_thread(_sample, c, cgroups_path), rfc3339nano(time.time_ns())
        await asyncio.sleep(INTERVAL)
    while True:
        current = await asyncio.to_thread(_sample, c, cgroups_path)
        now = rfc3339nano(time.time_ns())
        yield {"read": now, "preread": previous_at, "id": c.id, "name": c.record["Name"],
               "num_procs": 0, "blkio_stats": {"io_service_bytes_recursive": None,
                                               "io_serviced_recursive": None},
               "storage_stats": {}, "networks": {}, **current,
               "precpu_stats": previous["cpu_stats"]}
        if not stream or not c.running:
            return
        previous, previous_at = current, now
        await asyncio.sleep(INTERVAL)


def _pids(cgroups_path: str, init_pid: int) -> set[int]:
    """The container's processes: its cgroup's; without one (the cgroup driver ``none``
    of a rootless daemon), those in its init's PID namespace."""
    if cgroups_path:
        return set(cgroups.open(cgroups_path).pids())
    ns = os.readlink(f"/proc/{init_pid}/ns/pid")
    out = set()
    for entry in filter(str.isdigit, os.listdir("/proc")):
        try:
            if os.readlink(f"/proc/{entry}/ns/pid") == ns:
                out.add(int(entry))
        except OSError:  # gone meanwhile
            continue
    return out


def _top(cgroups_path: str, init_pid: int, ps_args: str) -> dict[str, Any]:
    pids = _pids(cgroups_path, init_pid)
    args = ps_args.split() if ps_args else ["-ef"]
    proc = subprocess.run(["ps", *args], capture_output=True, text=True)
    if proc.returncode != 0:
        raise InvalidParameter(f"Error running ps: {proc.stderr.strip() or proc.returncode}")
    lines = proc.stdout.splitlines()
    titles = lines[0].split()
    if "PID" not in titles:
        raise InvalidParameter("Couldn't find PID field in ps output")
    col = titles.index("PID")
    rows = []
    for line in lines[1:]:
        fields = line.split(None, len(titles) - 1)
        if len(fields) > col and fields[col].isdigit() and int(fields[col]) in pids:
            rows.append(fields)
    return {"Titles": titles, "Processes": rows}


async def top(c: Container, cgroups_path: str, ps_args: str) -> dict[str, Any]:
    if not c.running:
        raise Conflict(f"Container {c.id} is not running")
    return await asyncio.to_thread(_top, cgroups_path, c.state["Pid"], ps_args)
