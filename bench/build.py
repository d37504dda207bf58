"""Dockerfile builds: a cold build and a cached rebuild, wharf against docker's classic builder.

The Dockerfile has ten steps (RUNs, config steps and a COPY of a 100 MB file
of random data, so no engine wins by compressing). Each round, for each
engine in turn (so machine noise hits both alike): a cold build
(``--no-cache``) and then a rebuild of the same context (all cache hits).
Docker runs with ``DOCKER_BUILDKIT=0``. Median wall times of the CLI command
go to bench/results/build.md. Run as root: ``.venv/bin/python bench/build.py``.
"""

from __future__ import annotations

import argparse
import os
import tempfile
from pathlib import Path

from engines import available, medians_table

RESULTS = Path(__file__).resolve().parent / "results"
KINDS = ("cold", "cached")
DOCKERFILE = """\
FROM busybox
ARG VERSION=1
ENV APP=/app VERSION=$VERSION
WORKDIR /app
RUN echo "version $VERSION" > version.txt
COPY big.bin /app/big.bin
RUN ls -l /app > listing.txt
LABEL org.example.bench=build
EXPOSE 8080
CMD ["cat", "/app/version.txt"]
"""


def make_context(root: Path, mb: int) -> None:
    (root / "Dockerfile").write_text(DOCKERFILE)
    with open(root / "big.bin", "wb") as f:
        for _ in range(mb):
            f.write(os.urandom(1 << 20))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--mb", type=int, default=100)
    args = parser.parse_args()
    with available(["wharf", "docker"]) as engines, tempfile.TemporaryDirectory(prefix="wharf-bench-") as tmp:
        make_context(Path(tmp), args.mb)
        samples: dict[str, dict[str, list[float]]] = {e.name: {k: [] for k in KINDS} for e in engines}
        for e in engines:
            e.env["DOCKER_BUILDKIT"] = "0"
        for _ in range(args.runs):
            for e in engines:
                samples[e.name]["cold"].append(e.timed("build", "--no-cache", "-t", "bench-build:1", tmp))
                samples[e.name]["cached"].append(e.timed("build", "-t", "bench-build:1", tmp))
        for e in engines:
            e.run("rmi", "bench-build:1", check=False)
    medians_table(RESULTS / "build.md", f"# Builds: 10-step Dockerfile with a {args.mb} MB COPY, median of {args.runs} runs"
                  " (wall seconds of the CLI command)",
                  "build", list(KINDS), samples)


if __name__ == "__main__":
    main()
