"""Memory: the shims' PSS and the daemon side's RSS with N running containers.

Starts 10, 100 and 200 detached `sleep` containers on each engine (16 clients
at once), then reads /proc/PID/smaps_rollup: PSS of each shim process
(wharf's shim host, one for all its containers, found from every
container's shim.pid; docker's containerd-shim-runc-v2, one per container),
RSS of the daemon side (wharfd plus its shim launcher; dockerd plus
containerd), and the total PSS of all of them, per container. Table to
bench/results/memory.md.
Run as root: ``.venv/bin/python bench/memory.py``.
"""

from __future__ import annotations

import glob
import os
import statistics
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from engines import Engine, available

RESULTS = Path(__file__).resolve().parent / "results"
COUNTS = (10, 100, 200)


def rollup(pid: int, field: str) -> int:
    """A field of /proc/PID/smaps_rollup, in kB."""
    for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise KeyError(field)


def descendants(pid: int) -> list[int]:
    out = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True).stdout.split()
    found = [int(p) for p in out]
    for child in list(found):
        found += descendants(child)
    return found


def shim_pids(eng: Engine) -> list[int]:
    if eng.name == "wharf":
        exec_root = eng.env["DOCKER_HOST"].removeprefix("unix://").rsplit("/", 1)[0]
        return sorted({int(Path(p).read_text())
                       for p in glob.glob(f"{exec_root}/containers/*/shim.pid")})
    out = subprocess.run(["pgrep", "-f", "containerd-shim"], capture_output=True, text=True).stdout.split()
    return [int(p) for p in out if eng.tag in Path(f"/proc/{p}/cmdline").read_text(errors="replace")]


def daemon_side(eng: Engine, shims: list[int]) -> list[int]:
    """The daemon and its long-lived helpers (not the shims, not the containers)."""
    pids = set()
    for pid in eng.daemon_pids:
        pids.add(pid)
        pids.update(p for p in descendants(pid) if p not in shims)
    return sorted(pids)


def measure(eng: Engine, count: int) -> dict[str, float]:
    with ThreadPoolExecutor(max_workers=16) as pool:
        ids = list(pool.map(lambda _: eng.run("run", *eng.run_flags, "-d", "busybox", "sleep",
                                              "3600").stdout.strip(), range(count)))
    time.sleep(2)
    try:
        shims = shim_pids(eng)
        pss = [rollup(p, "Pss") for p in shims]
        daemon = daemon_side(eng, shims)
        total = sum(pss) + sum(rollup(p, "Pss") for p in daemon)
        return {"shims": len(shims), "shim_pss_kb": statistics.median(pss) if pss else float("nan"),
                "daemon_rss_kb": sum(rollup(p, "Rss") for p in daemon), "daemon_procs": len(daemon),
                "total_pss_kb": total, "per_container_kb": total / count}
    finally:  # one client: dockerd 20.10 hung here under 16 concurrent rm -f of 200
        eng.run("rm", "-f", *ids)


def main() -> None:
    RESULTS.mkdir(exist_ok=True)
    rows = ["## Memory with N running containers", "",
            "| engine | N | shim processes | shim PSS, median (MB) | daemon side RSS (MB) | "
            "total PSS (MB) | per container (MB) |",
            "| --- | --- | --- | --- | --- | --- | --- |"]
    per: dict[tuple[str, int], float] = {}
    with available(["wharf", "docker"]) as engines:
        for count in COUNTS:
            for eng in engines:
                m = measure(eng, count)
                per[eng.name, count] = m["per_container_kb"]
                rows.append(f"| {eng.name} | {count} | {m['shims']} | {m['shim_pss_kb'] / 1024:.1f} | "
                            f"{m['daemon_rss_kb'] / 1024:.1f} | {m['total_pss_kb'] / 1024:.1f} | "
                            f"{m['per_container_kb'] / 1024:.2f} |")
    ratios = [f"N={n}: {per['wharf', n] / per['docker', n]:.2f}" for n in COUNTS
              if ("docker", n) in per and ("wharf", n) in per]
    report = "\n".join(rows + [
        "", "shim processes: wharf's shim host (one serves every container of its daemon); "
        "docker's containerd-shim-runc-v2 (one per container). daemon side: wharfd + shim "
        "launcher; dockerd + containerd. total PSS: daemon side plus every shim process (PSS "
        "splits shared pages, so the sum is the memory really used); per container = total / N.", "", "wharf/docker per container: " + ", ".join(ratios), ""])
    (RESULTS / "memory.md").write_text(report)
    print(report)


if __name__ == "__main__":
    os.chdir(Path(__file__).resolve().parent)
    main()
