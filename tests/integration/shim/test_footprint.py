"""What a container costs its shim host: memory (PSS) per running container, and
launcher request to exec."""

from __future__ import annotations

import os
import signal
import statistics
import time

from shimbox import Root, adopted, gone

from wharf.shim import client

#: Docker pays about this much per container for its containerd-shim (PSS with
#: 200 running: bench/results/memory.md).
DOCKER_SHIM_PSS_KB = int(2.4 * 1024)
ADDED = 20


def pss_kb(pid: int) -> int:
    for line in open(f"/proc/{pid}/smaps_rollup"):
        if line.startswith("Pss:"):
            return int(line.split()[1])
    raise AssertionError("no Pss line")


def test_each_container_adds_well_under_a_docker_shim_to_the_host(root: Root, capsys) -> None:
    bundles = [root.make(["sleep", "60"]) for _ in range(ADDED + 1)]
    launcher = client.Launcher(str(root.path))
    try:
        latencies, answers = [], []
        for b in bundles:
            t0 = time.perf_counter()
            answers.append(launcher.start(str(b.path), b.opts))
            latencies.append((time.perf_counter() - t0) * 1000)
            # measured once the spawn helper is gone (while it lives, it shares the host's pages)
            assert adopted(answers[-1]["pid"], answers[-1]["shim_pid"])
            if len(answers) == 1:
                first = pss_kb(answers[0]["shim_pid"])
        host = answers[0]["shim_pid"]
        grown = pss_kb(host)
        launcher_pss = pss_kb(launcher.proc.pid)
    finally:
        launcher.close()
    assert {a["shim_pid"] for a in answers} == {host}
    for a in answers:
        os.kill(a["pid"], signal.SIGKILL)
    assert gone(host)
    per_container = (grown - first) / ADDED
    with capsys.disabled():
        print(f"\nshim host PSS: {first} kB with 1 container, {grown} kB with {ADDED + 1} "
              f"({per_container:.0f} kB per added container); launcher {launcher_pss} kB; "
              f"request to exec: median {statistics.median(latencies):.1f} ms, "
              f"max {max(latencies):.1f} ms")
    assert per_container < DOCKER_SHIM_PSS_KB / 4
