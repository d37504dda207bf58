"""Dockerfile builds: wharf against docker's classic builder (``DOCKER_BUILDKIT=0``).

Two scenarios, each engine in turn every round (so machine noise hits both alike):

* ``multistage``: a 10-step two-stage Dockerfile (RUNs, config steps, COPYs)
  over a 20 MB context of random data (so no engine wins by compressing)
  with a ``.dockerignore`` leaving out 5 MB more. ``cold`` is a
  ``--no-cache`` build, ``cached`` a rebuild of the same context (every
  step a cache hit: the fixed per-build costs).
* ``deps``: a dependency list installed by a RUN in which each package costs
  a "download" (0.2 s of latency, 1 MB written), then one package added to
  the list and the image built again. wharf's Dockerfile keeps the
  downloads in a ``RUN --mount=type=cache``; docker's classic builder has no
  cache mounts, so the step (whose input changed) downloads all of them again.

Median wall times of the CLI command go to bench/results/build.md. Run as
root: ``.venv/bin/python bench/build.py``.
"""

from __future__ import annotations

import argparse
import os
import tempfile
from pathlib import Path

from engines import available, medians_table

RESULTS = Path(__file__).resolve().parent / "results"
KINDS = ("multistage cold", "multistage cached", "deps: one package added")
MULTISTAGE = """\
FROM busybox AS build
ARG VERSION=1
WORKDIR /src
COPY src/ ./
RUN cat *.bin | md5sum > /sum.txt && echo "version $VERSION" > /version.txt
FROM busybox
ENV APP=/app
COPY --from=build /sum.txt /version.txt /app/
COPY data/ /app/data/
CMD ["cat", "/app/version.txt"]
"""
# What installing a package costs: fetching it (latency) and writing it.
FETCH = "sleep 0.2; dd if=/dev/zero of=$dir/$p bs=1M count=1 2>/dev/null"
DEPS = """\
FROM busybox
COPY deps.txt /deps.txt
RUN {mount}dir=/var/cache/pkgs; mkdir -p $dir /opt/pkgs; \\
    for p in $(cat /deps.txt); do [ -f $dir/$p ] || {{ {fetch}; }}; cp $dir/$p /opt/pkgs/; done
"""


def make_multistage(root: Path) -> None:
    (root / "src").mkdir()
    (root / "data").mkdir()
    (root / "ignored").mkdir()
    (root / "Dockerfile").write_text(MULTISTAGE)
    (root / ".dockerignore").write_text("ignored\n*.tmp\n")
    for i in range(10):
        (root / "src" / f"part{i}.bin").write_bytes(os.urandom(1 << 20))
        (root / "data" / f"blob{i}.bin").write_bytes(os.urandom(1 << 20))
    for i in range(5):
        (root / "ignored" / f"junk{i}.bin").write_bytes(os.urandom(1 << 20))


def make_deps(root: Path, engine: str, packages: int) -> None:
    root.mkdir()
    mount = "--mount=type=cache,target=/var/cache/pkgs " if engine == "wharf" else ""
    (root / "Dockerfile").write_text(DEPS.format(mount=mount, fetch=FETCH))
    (root / "deps.txt").write_text("".join(f"pkg{i}\n" for i in range(packages)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--packages", type=int, default=10)
    args = parser.parse_args()
    with available(["wharf", "docker"]) as engines, tempfile.TemporaryDirectory(prefix="wharf-bench-") as tmp:
        multistage = Path(tmp) / "multistage"
        multistage.mkdir()
        make_multistage(multistage)
        samples: dict[str, dict[str, list[float]]] = {e.name: {k: [] for k in KINDS} for e in engines}
        for e in engines:
            e.env["DOCKER_BUILDKIT"] = "0"
        for run in range(args.runs):
            for e in engines:
                samples[e.name]["multistage cold"].append(
                    e.timed("build", "--no-cache", "-t", "bench-build:1", str(multistage)))
                samples[e.name]["multistage cached"].append(e.timed("build", "-t", "bench-build:1", str(multistage)))
                deps = Path(tmp) / f"deps-{e.name}-{run}"
                make_deps(deps, e.name, args.packages)
                e.run("build", "-t", "bench-deps:1", str(deps))  # the first install fills the cache
                with open(deps / "deps.txt", "a") as f:
                    f.write(f"extra{run}\n")
                samples[e.name]["deps: one package added"].append(e.timed("build", "-t", "bench-deps:1", str(deps)))
        for e in engines:
            e.run("rmi", "bench-build:1", "bench-deps:1", check=False)
    medians_table(RESULTS / "build.md",
                  f"# Builds vs docker's classic builder, median of {args.runs} runs (wall seconds of the CLI command)\n\n"
                  "multistage: 10 steps, two stages, 20 MB context (+5 MB .dockerignored). deps: "
                  f"{args.packages} packages at 0.2 s each, one added; wharf keeps them in a RUN cache mount, "
                  "docker's classic builder has none.",
                  "build", list(KINDS), samples)


if __name__ == "__main__":
    main()
