"""Push and pull of an image with one 100 MB layer through a local registry: wharf against docker.

Both engines import the same rootfs tar (busybox plus 100 MB of random
bytes, which no compressor shrinks), push it to wharf's own registry on
127.0.0.1 (each to its own repository), remove it, and pull it back; the
wall time of each ``push`` and ``pull`` command is measured, N rounds,
engines interleaved. Between rounds each repository is deleted from the
registry's storage so every push uploads and every pull downloads.

Writes a markdown table to bench/results/registry.md. Run as root:
``.venv/bin/python bench/registry.py``.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
from pathlib import Path

from engines import REPO, Engine, available, busybox_tar

sys.path.insert(0, str(REPO / "tests" / "integration" / "registry"))
from regserver import RegistryServer  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"
LAYER_MB = 100


def big_rootfs(path: Path) -> None:
    """busybox plus one file of LAYER_MB random megabytes, as one tar."""
    with tempfile.TemporaryDirectory() as scratch:
        base = Path(scratch) / "base.tar"
        busybox_tar(base)
        root = Path(scratch) / "root"
        root.mkdir()
        shutil.unpack_archive(base, root, "tar")
        with open(root / "blob.bin", "wb") as f:
            for _ in range(LAYER_MB):
                f.write(os.urandom(1 << 20))
        shutil.make_archive(str(path).removesuffix(".tar"), "tar", root)


def rounds(engines: list[Engine], registry: RegistryServer, tar: Path, n: int) -> dict[str, dict[str, list[float]]]:
    out: dict[str, dict[str, list[float]]] = {"push": {}, "pull": {}}
    for e in engines:
        e.run("import", str(tar), f"{registry.addr}/bench/{e.name}:big")
    for _ in range(n):
        for e in engines:
            ref = f"{registry.addr}/bench/{e.name}:big"
            shutil.rmtree(registry.root / "repositories" / "bench" / e.name, ignore_errors=True)
            out["push"].setdefault(e.name, []).append(e.timed("push", ref))
            keep = f"{registry.addr}/bench/{e.name}-keep:big"
            e.run("tag", ref, keep)  # the image survives the rmi of ref through this tag...
            e.run("rmi", ref)
            e.run("rmi", keep)  # ...until now: the pull must download everything
            out["pull"].setdefault(e.name, []).append(e.timed("pull", ref))
    return out


def table(op: str, data: dict[str, list[float]]) -> str:
    base = statistics.median(data["wharf"])
    rows = [f"### {op} ({LAYER_MB} MB layer)", "", "| engine | median (s) | min | max | n | ratio wharf/engine |",
            "| --- | --- | --- | --- | --- | --- |"]
    for name, xs in data.items():
        med = statistics.median(xs)
        rows.append(f"| {name} | {med:.3f} | {min(xs):.3f} | {max(xs):.3f} | {len(xs)} | "
                    f"{'' if name == 'wharf' else f'{base / med:.3f}'} |")
    return "\n".join(rows) + "\n"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("-n", "--rounds", type=int, default=3)
    p.add_argument("--engines", default="wharf,docker")
    a = p.parse_args()
    with tempfile.TemporaryDirectory(prefix="wharf-bench-registry-") as scratch:
        tar = Path(scratch) / "big.tar"
        big_rootfs(tar)
        registry = RegistryServer(Path(scratch) / "registry").start()
        try:
            with available(a.engines.split(",")) as engines:
                data = rounds(engines, registry, tar, a.rounds)
        finally:
            registry.stop()
    report = "## Registry push and pull\n\n" + "\n".join(table(op, d) for op, d in data.items())
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "registry.md").write_text(report)
    print(report)


if __name__ == "__main__":
    main()
