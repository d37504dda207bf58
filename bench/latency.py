"""Container start latency and throughput: wharf against docker and podman.

Scenarios (each engine with the same busybox image, runs interleaved so that
machine noise hits every engine alike):

* ``run --rm busybox true``: wall time of the whole CLI command, N times;
* 20 detached ``run -d busybox sleep 60`` one after another: containers/s;
* 64 detached ``run -d`` by 16 clients at once (a compose up, a CI runner):
  wall seconds until all 64 have answered; each engine with its own CLI, and
  again with the docker CLI for both daemons (the same client and the same
  requests: the daemons alone compared);
* ``exec CONTAINER true`` in a running container: wall time of the CLI command.

Writes a markdown table (and a PNG plot when matplotlib is installed) to
bench/results/. Run as root: ``.venv/bin/python bench/latency.py``.
"""

from __future__ import annotations

import argparse
import statistics
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from engines import DOCKER, Engine, available, quiet

RESULTS = Path(__file__).resolve().parent / "results"


def run_rm_true(engines: list[Engine], runs: int, extra: list[str]) -> dict[str, list[float]]:
    samples: dict[str, list[float]] = {e.name: [] for e in engines}
    for e in engines:  # warm caches once
        e.run("run", *e.run_flags, "--rm", *extra, "busybox", "true")
    for _ in range(runs):
        for e in engines:
            samples[e.name].append(e.timed("run", *e.run_flags, "--rm", *extra, "busybox", "true"))
    return samples


def start_twenty(engines: list[Engine], rounds: int) -> dict[str, list[float]]:
    rates: dict[str, list[float]] = {e.name: [] for e in engines}
    for _ in range(rounds):
        for e in engines:
            t = time.perf_counter()
            ids = [e.run("run", *e.run_flags, "-d", "busybox", "sleep", "60").stdout.strip() for _ in range(20)]
            rates[e.name].append(20 / (time.perf_counter() - t))
            e.run("rm", "-f", *ids)
    return rates


def start_concurrently(engines: list[Engine], rounds: int, count: int = 64,
                       clients: int = 16) -> dict[str, list[float]]:
    walls: dict[str, list[float]] = {e.name: [] for e in engines}
    for _ in range(rounds):
        for e in engines:
            quiet()
            with ThreadPoolExecutor(max_workers=clients) as pool:
                t = time.perf_counter()
                ids = list(pool.map(lambda _: e.run("run", *e.run_flags, "-d", "busybox", "sleep",
                                                    "600").stdout.strip(), range(count)))
                walls[e.name].append(time.perf_counter() - t)
            running = e.run("ps", "-q", "--no-trunc").stdout.split()
            assert sorted(running) == sorted(ids), f"{e.name}: not all {count} are running"
            e.run("rm", "-f", *ids)
    return walls


def exec_true(engines: list[Engine], runs: int) -> dict[str, list[float]]:
    samples: dict[str, list[float]] = {e.name: [] for e in engines}
    ids = {e.name: e.run("run", *e.run_flags, "-d", "busybox", "sleep", "600").stdout.strip()
           for e in engines}
    for e in engines:  # warm caches once
        e.run("exec", ids[e.name], "true")
    for _ in range(runs):
        for e in engines:
            samples[e.name].append(e.timed("exec", ids[e.name], "true"))
    for e in engines:
        e.run("rm", "-f", ids[e.name])
    return samples


def table(title: str, unit: str, data: dict[str, list[float]], lower_is_better: bool) -> str:
    base = statistics.median(data["wharf"])
    rows = [f"### {title}", "", f"| engine | median ({unit}) | min | max | n | wharf ratio |",
            "| --- | --- | --- | --- | --- | --- |"]
    for name, xs in data.items():
        med = statistics.median(xs)
        ratio = base / med if lower_is_better else med / base
        rows.append(f"| {name} | {med:.4f} | {min(xs):.4f} | {max(xs):.4f} | {len(xs)} | "
                    f"{'' if name == 'wharf' else f'{ratio:.3f}'} |")
    note = ("wharf ratio = wharf's median / this engine's (below 1: wharf is faster)" if lower_is_better
            else "wharf ratio = this engine's rate / wharf's (below 1: wharf is faster)")
    return "\n".join(rows + ["", note, ""])


def plot(path: Path, title: str, data: dict[str, list[float]], unit: str) -> None:
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return
    fig, ax = plt.subplots(figsize=(6, 3.5))
    ax.boxplot(list(data.values()), labels=list(data.keys()))
    ax.set_title(title)
    ax.set_ylabel(unit)
    fig.tight_layout()
    fig.savefig(path)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--runs", type=int, default=30)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--engines", default="wharf,docker,podman")
    a = p.parse_args()
    RESULTS.mkdir(exist_ok=True)
    with available(a.engines.split(",")) as engines:
        lat = run_rm_true(engines, a.runs, [])
        lat_none = run_rm_true(engines, a.runs, ["--network", "none"])
        rate = start_twenty(engines, a.rounds)
        burst = start_concurrently(engines, a.rounds)
        by_name = {e.name: e for e in engines}
        same_cli = ([Engine("wharf", [DOCKER], by_name["wharf"].env), by_name["docker"]]
                    if "docker" in by_name else [])
        burst_docker_cli = start_concurrently(same_cli, a.rounds) if same_cli else {}
        execs = exec_true(engines, a.runs)
    report = "\n".join([
        f"## Container start ({time.strftime('%Y-%m-%d %H:%M')}, {len(engines)} engines)", "",
        table("`run --rm busybox true` wall time (each on its default bridge network)", "s", lat, True),
        table("`run --rm --network none busybox true` wall time", "s", lat_none, True),
        table("20 detached containers started one after another", "containers/s", rate, False),
        table("64 detached containers started by 16 clients at once", "s", burst, True),
        *([table("The same 64 by 16, the docker CLI for both daemons", "s", burst_docker_cli, True)]
          if burst_docker_cli else []),
        table("`exec CONTAINER true` wall time", "s", execs, True),
    ])
    (RESULTS / "latency.md").write_text(report)
    plot(RESULTS / "latency.png", "run --rm busybox true", lat, "seconds")
    print(report)


if __name__ == "__main__":
    main()
