"""Memory: the shim's PSS per running container and the daemon side's RSS.

Starts 10 detached `sleep` containers on each engine, then reads
/proc/PID/smaps_rollup: PSS of each per-container shim (wharf-shim; docker's
containerd-shim-runc-v2), and RSS of the daemon side (wharfd plus its shim
launcher; dockerd plus containerd). Table to bench/results/memory.md.
Run as root: ``.venv/bin/python bench/memory.py``.
"""

from __future__ import annotations

import glob
import os
import statistics
import subprocess
import time
from pathlib import Path

from engines import Engine, available

RESULTS = Path(__file__).resolve().parent / "results"
COUNT = 10


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
        return [int(Path(p).read_text()) for p in glob.glob(f"{exec_root}/containers/*/shim.pid")]
    out = subprocess.run(["pgrep", "-f", "containerd-shim"], capture_output=True, text=True).stdout.split()
    return [int(p) for p in out if eng.tag in Path(f"/proc/{p}/cmdline").read_text(errors="replace")]


def daemon_side(eng: Engine, shims: list[int]) -> list[int]:
    """The daemon and its long-lived helpers (not the shims, not the containers)."""
    pids = set()
    for pid in eng.daemon_pids:
        pids.add(pid)
        pids.update(p for p in descendants(pid) if p not in shims)
    return sorted(pids)


def measure(eng: Engine) -> dict[str, float]:
    ids = [eng.run("run", *eng.run_flags, "-d", "busybox", "sleep", "600").stdout.strip()
           for _ in range(COUNT)]
    time.sleep(1)
    try:
        shims = shim_pids(eng)
        pss = [rollup(p, "Pss") for p in shims]
        daemon = daemon_side(eng, shims)
        return {"shims": len(shims), "shim_pss_kb": statistics.median(pss) if pss else float("nan"),
                "daemon_rss_kb": sum(rollup(p, "Rss") for p in daemon), "daemon_procs": len(daemon)}
    finally:
        eng.run("rm", "-f", *ids)


def main() -> None:
    RESULTS.mkdir(exist_ok=True)
    rows = ["## Memory with 10 running containers", "",
            "| engine | shims found | shim PSS, median (MB) | daemon side RSS (MB) | daemon processes |",
            "| --- | --- | --- | --- | --- |"]
    with available(["wharf", "docker"]) as engines:
        for eng in engines:
            m = measure(eng)
            rows.append(f"| {eng.name} | {m['shims']} | {m['shim_pss_kb'] / 1024:.1f} | "
                        f"{m['daemon_rss_kb'] / 1024:.1f} | {m['daemon_procs']} |")
    report = "\n".join(rows + ["", "daemon side: wharfd + shim launcher; dockerd + containerd.", ""])
    (RESULTS / "memory.md").write_text(report)
    print(report)


if __name__ == "__main__":
    os.chdir(Path(__file__).resolve().parent)
    main()
