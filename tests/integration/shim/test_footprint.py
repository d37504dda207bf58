"""What a shim costs: memory (PSS) per running container, and launcher request to exec."""

from __future__ import annotations

import os
import signal
import statistics
import time

from test_launcher import Root, gone, root  # noqa: F401 -- the fixture

from wharf.shim import client

#: Docker pays about this much per container for its containerd-shim.
DOCKER_SHIM_PSS_KB = 13 * 1024


def pss_kb(pid: int) -> int:
    for line in open(f"/proc/{pid}/smaps_rollup"):
        if line.startswith("Pss:"):
            return int(line.split()[1])
    raise AssertionError("no Pss line")


def test_ten_shims_stay_well_under_dockers_memory(root: Root, capsys) -> None:  # noqa: F811
    bundles = [root.make(["sleep", "60"]) for _ in range(10)]
    launcher = client.Launcher(str(root.path))
    try:
        latencies, answers = [], []
        for b in bundles:
            t0 = time.perf_counter()
            answers.append(launcher.start(str(b.path)))
            latencies.append((time.perf_counter() - t0) * 1000)
        pss = [pss_kb(a["shim_pid"]) for a in answers]
        launcher_pss = pss_kb(launcher.proc.pid)
    finally:
        launcher.close()
    for a in answers:
        os.kill(a["pid"], signal.SIGKILL)
    for a in answers:
        assert gone(a["shim_pid"])
    with capsys.disabled():
        print(f"\nshim PSS with 10 running: mean {statistics.mean(pss):.0f} kB, max {max(pss)} kB; "
              f"launcher {launcher_pss} kB; request to exec: median "
              f"{statistics.median(latencies):.1f} ms, max {max(latencies):.1f} ms")
    assert statistics.mean(pss) < DOCKER_SHIM_PSS_KB / 2
