"""TCP throughput between two hosts: containers over a VXLAN overlay vs the plain underlay.

The topology is the overlay tests' (tests/integration/overlay): two wharfd
hosts, each a network namespace on an underlay bridge, and one etcd. Each
round sends ``--mb`` MiB of zeros with busybox nc, once container to
container across the overlay (by name, through the VXLAN devices), once
host namespace to host namespace over the underlay addresses, alternating
so machine noise hits both alike. Medians go to bench/results/overlay.md.
Run as root: ``.venv/bin/python bench/overlay.py``.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT / "tests" / "integration" / "overlay"), str(ROOT / "tests")]

from conftest import Cluster  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"
PORT = 7100


def overlay_round(a, b, size: int) -> float:
    b.wharf("exec", "-d", "cb", "sh", "-c", f"sleep 600 | nc -l -p {PORT} > /dev/null")
    time.sleep(0.3)
    t = time.perf_counter()
    r = a.wharf("exec", "ca", "sh", "-c", f"head -c {size} /dev/zero | nc cb {PORT}")
    elapsed = time.perf_counter() - t
    assert r.returncode == 0, r.stderr
    b.wharf("exec", "cb", "pkill", "sleep")
    return elapsed


def underlay_round(cluster: Cluster, size: int) -> float:
    a, b = cluster.hosts
    enter = cluster.underlay.enter
    server = subprocess.Popen([*enter(b.ns), "sh", "-c",
                               f"sleep 600 | /bin/busybox nc -l -p {PORT} > /dev/null"],
                              start_new_session=True)
    time.sleep(0.3)
    t = time.perf_counter()
    subprocess.run([*enter(a.ns), "sh", "-c",
                    f"head -c {size} /dev/zero | /bin/busybox nc {b.address} {PORT}"], check=True)
    elapsed = time.perf_counter() - t
    server.kill()
    subprocess.run(["pkill", "-g", str(server.pid)], capture_output=True)
    server.wait()
    return elapsed


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--mb", type=int, default=512)
    p.add_argument("--rounds", type=int, default=5)
    args = p.parse_args()
    size = args.mb << 20
    cluster = Cluster(2)
    try:
        a, b = cluster.hosts
        assert a.wharf("network", "create", "-d", "overlay", "bench").returncode == 0
        for host, name in ((a, "ca"), (b, "cb")):
            r = host.wharf("run", "-d", "--name", name, "--network", "bench", "busybox",
                           "sleep", "3600")
            assert r.returncode == 0, r.stderr
        time.sleep(1)
        times: dict[str, list[float]] = {"overlay (VXLAN)": [], "underlay": []}
        for _ in range(args.rounds):
            times["overlay (VXLAN)"].append(overlay_round(a, b, size))
            times["underlay"].append(underlay_round(cluster, size))
    finally:
        problems = cluster.teardown()
    rates = {k: args.mb / statistics.median(v) for k, v in times.items()}
    ratio = rates["overlay (VXLAN)"] / rates["underlay"]
    lines = ["# TCP throughput across two hosts: overlay vs underlay", "",
             f"{args.mb} MiB of zeros through busybox nc, median of {args.rounds} rounds "
             "(`.venv/bin/python bench/overlay.py`).", "",
             "| path | MiB/s |", "| --- | --- |",
             *(f"| {k} | {v:.0f} |" for k, v in rates.items()), "",
             f"overlay / underlay = {ratio:.2f}", ""]
    text = "\n".join(lines)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "overlay.md").write_text(text)
    print(text)
    if problems:
        sys.exit("leaked:\n" + "\n".join(problems))


if __name__ == "__main__":
    main()
