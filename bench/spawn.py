"""The runtime's cost per start: ``wharf.runtime.container.spawn`` against ``runc run``.

One busybox bundle (the runtime tests' ``rtbox``), one spec, ``true`` as the
command: fork, namespaces, mounts, cgroup and exec, then the wait, with no
daemon, shim or network around it. Runs are interleaved so that machine noise
hits both alike. Wall time per start and the CPU time it cost (this process and
its children: user + system), which a busy machine disturbs far less.

Goal: wharf's median wall time well under 0.5 s (the runtime's share of a
``docker run`` that answers in a tenth of a second), and no more CPU than runc.

Writes bench/results/spawn.md. Run as root: ``.venv/bin/python bench/spawn.py``.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import secrets
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests" / "integration" / "runtime"))
from rtbox import Box  # noqa: E402

RESULTS = REPO / "bench" / "results"
Sample = tuple[float, float]  # (wall seconds, CPU seconds)


def _cpu() -> float:
    own, children = (resource.getrusage(w) for w in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN))
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def timed(start: Callable[[], int]) -> Sample:
    """One start and its wait; fails loudly on a non-zero exit (a broken bench measures nothing)."""
    wall, cpu = time.perf_counter(), _cpu()
    code = start()
    sample = (time.perf_counter() - wall, _cpu() - cpu)
    assert code == 0, f"exit {code}"
    return sample


def wharf_start(box: Box) -> Callable[[], int]:
    return lambda: box.run(["true"])[0]


def runc_start(box: Box, runc: str) -> Callable[[], int]:
    """``runc run`` of the same spec (rootfs made absolute, no terminal), deleted at exit."""
    bundle = box.bundle / "runc"
    bundle.mkdir()
    spec = box.spec(["true"])
    spec["root"]["path"] = str(box.rootfs)
    (bundle / "config.json").write_text(json.dumps(spec))

    def start() -> int:
        name = f"wharf-bench-{secrets.token_hex(4)}"
        return subprocess.run([runc, "run", "-b", str(bundle), name],
                              stdin=subprocess.DEVNULL, capture_output=True).returncode
    return start


def table(data: dict[str, list[Sample]]) -> str:
    rows = ["| runtime | median wall (s) | min | max | median CPU (s) | n |",
            "| --- | --- | --- | --- | --- | --- |"]
    for name, xs in data.items():
        walls, cpus = [w for w, _ in xs], [c for _, c in xs]
        rows.append(f"| {name} | {statistics.median(walls):.4f} | {min(walls):.4f} | "
                    f"{max(walls):.4f} | {statistics.median(cpus):.4f} | {len(xs)} |")
    return "\n".join(rows)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--runs", type=int, default=30)
    a = p.parse_args()
    base = Path(tempfile.mkdtemp(prefix="wharf-bench-spawn-"))
    box = Box(base)
    runc = shutil.which("runc")
    starts = {"wharf": wharf_start(box)}
    if runc:
        starts["runc"] = runc_start(box, runc)
    try:
        for start in starts.values():  # warm caches once
            timed(start)
        data: dict[str, list[Sample]] = {name: [] for name in starts}
        for _ in range(a.runs):
            for name, start in starts.items():
                data[name].append(timed(start))
    finally:
        box.cleanup()
        shutil.rmtree(base, ignore_errors=True)
    report = "\n".join([
        f"## Runtime start of `true` ({time.strftime('%Y-%m-%d %H:%M')}, {os.cpu_count()} CPUs)", "",
        table(data), "",
        "CPU = user + system of the bench and its children per start.", ""])
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "spawn.md").write_text(report)
    print(report)


if __name__ == "__main__":
    main()
