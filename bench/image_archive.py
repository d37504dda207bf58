"""save, load and commit of an image with a 200 MB layer: wharf against docker.

Each engine runs a container that writes 200 MB of random data (incompressible,
so no engine wins by compressing), then, interleaved so machine noise hits both
alike, N times: ``commit`` of that container, ``save -o`` of the image, ``rmi``
and ``load -i`` of the archive. Median wall times of the CLI commands go to a
markdown table in bench/results/. Run as root: ``.venv/bin/python bench/image_archive.py``.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from engines import Engine, available, medians_table

RESULTS = Path(__file__).resolve().parent / "results"
OPERATIONS = ("commit", "save", "load")


def one_round(eng: Engine, archive: Path) -> dict[str, float]:
    out = {"commit": eng.timed("commit", "big-src", "big:1"),
           "save": eng.timed("save", "-o", str(archive), "big:1")}
    eng.run("rmi", "big:1")
    out["load"] = eng.timed("load", "-i", str(archive))
    eng.run("rmi", "big:1")
    archive.unlink()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--mb", type=int, default=200)
    args = parser.parse_args()
    with available(["wharf", "docker"]) as engines, tempfile.TemporaryDirectory(prefix="wharf-bench-") as tmp:
        samples: dict[str, dict[str, list[float]]] = {e.name: {op: [] for op in OPERATIONS} for e in engines}
        for e in engines:
            e.run("run", "--name", "big-src", "--network=none", "busybox", "dd", "if=/dev/urandom",
                  "of=/big", "bs=1M", f"count={args.mb}")
        for _ in range(args.runs):
            for e in engines:
                for op, seconds in one_round(e, Path(tmp) / f"{e.name}.tar").items():
                    samples[e.name][op].append(seconds)
        for e in engines:
            e.run("rm", "-f", "big-src")
    medians_table(RESULTS / "image_archive.md", f"# Image archives: {args.mb} MB layer, median of {args.runs} runs"
                  " (wall seconds of the CLI command)",
                  "operation", list(OPERATIONS), samples)


if __name__ == "__main__":
    main()
