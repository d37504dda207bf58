"""Push and pull of an image with one 100 MB half-compressible layer: wharf against docker.

Both engines import the same rootfs tar (busybox, 50 MB of random bytes and
50 MB of text), then, N rounds with the engines interleaved: start a fresh
registry (Debian's ``docker-registry``, the distribution registry, on
127.0.0.1 with storage of its own, so nothing is mounted or skipped), push
the image to it, remove the image, and pull it back from there. The wall
time of each ``push`` and ``pull`` command is measured, and beside it the
bytes the push sent: the blobs the fresh registry holds after it (layer,
config and manifest, as stored: compressed as sent).

Writes a markdown table to bench/results/registry.md. Run as root:
``.venv/bin/python bench/registry.py``.
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import statistics
import sys
import tempfile
from pathlib import Path

from engines import REPO, Engine, available, busybox_tar

sys.path.insert(0, str(REPO / "tests" / "integration" / "registry_client"))
from registries import DistributionRegistry  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"
RANDOM_MB = TEXT_MB = 50
BASE = "bench/big:base"


def text(size: int, seed: int = 16) -> bytes:
    """Log-like lines of words: text that gzip shrinks to about a fifth."""
    rnd = random.Random(seed)
    words = ["".join(rnd.choices("abcdefghijklmnopqrstuvwxyz", k=rnd.randint(2, 9))) for _ in range(2000)]
    out = bytearray()
    n = 0
    while len(out) < size:
        n += 1
        out += (f"2026-12-02T06:{n // 60000 % 60:02d}:{n // 1000 % 60:02d}.{n % 1000:03d}Z "
                f"{rnd.choice(('INFO', 'INFO', 'INFO', 'WARN', 'DEBUG'))} request={n:08x} "
                + " ".join(rnd.choices(words, k=8)) + "\n").encode()
    return bytes(out[:size])


def big_rootfs(path: Path) -> None:
    """busybox plus RANDOM_MB random and TEXT_MB text megabytes, as one tar."""
    with tempfile.TemporaryDirectory() as scratch:
        base = Path(scratch) / "base.tar"
        busybox_tar(base)
        root = Path(scratch) / "root"
        root.mkdir()
        shutil.unpack_archive(base, root, "tar")
        with open(root / "random.bin", "wb") as f:
            for _ in range(RANDOM_MB):
                f.write(os.urandom(1 << 20))
        (root / "log.txt").write_bytes(text(TEXT_MB << 20))
        shutil.make_archive(str(path).removesuffix(".tar"), "tar", root)


def stored_bytes(registry: DistributionRegistry) -> int:
    """The bytes of every blob a distribution registry stores (its ``data`` files)."""
    return sum(p.stat().st_size for p in registry.root.rglob("data") if p.is_file())


def one_round(e: Engine, scratch: Path, n: int, out: dict[str, dict[str, list[float]]]) -> None:
    (scratch / f"{e.name}-{n}").mkdir()
    registry = DistributionRegistry(scratch / f"{e.name}-{n}", auth=False).start()
    try:
        ref = f"{registry.addr}/bench/big:1"
        e.run("tag", BASE, ref)
        out["push"].setdefault(e.name, []).append(e.timed("push", ref))
        out["bytes"].setdefault(e.name, []).append(stored_bytes(registry))
        e.run("rmi", BASE)
        e.run("rmi", ref)  # the image is gone: the pull must download everything
        out["pull"].setdefault(e.name, []).append(e.timed("pull", ref))
        e.run("tag", ref, BASE)
        e.run("rmi", ref)
    finally:
        registry.stop()


def table(title: str, data: dict[str, list[float]], unit: str, fmt: str) -> str:
    base = statistics.median(data["wharf"]) if "wharf" in data else None
    rows = [f"### {title}", "", f"| engine | median ({unit}) | min | max | n | ratio wharf/engine |",
            "| --- | --- | --- | --- | --- | --- |"]
    for name, xs in data.items():
        med = statistics.median(xs)
        ratio = "" if name == "wharf" or base is None else f"{base / med:.3f}"
        rows.append(f"| {name} | {med:{fmt}} | {min(xs):{fmt}} | {max(xs):{fmt}} | {len(xs)} | {ratio} |")
    return "\n".join(rows) + "\n"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("-n", "--rounds", type=int, default=3)
    p.add_argument("--engines", default="wharf,docker")
    a = p.parse_args()
    data: dict[str, dict[str, list[float]]] = {"push": {}, "bytes": {}, "pull": {}}
    load_before = Path("/proc/loadavg").read_text().split()[0]
    with tempfile.TemporaryDirectory(prefix="wharf-bench-registry-") as scratch:
        tar = Path(scratch) / "big.tar"
        big_rootfs(tar)
        size = tar.stat().st_size
        with available(a.engines.split(",")) as engines:
            for e in engines:
                e.run("import", str(tar), BASE)
            for n in range(a.rounds):
                for e in engines:
                    one_round(e, Path(scratch), n, data)
    layer = f"{RANDOM_MB} MB random + {TEXT_MB} MB text, a {size:,} byte tar"
    report = (f"## Registry push and pull ({layer})\n\n"
              "Each push into a fresh distribution registry (Debian's docker-registry on 127.0.0.1): "
              "nothing mounted or skipped; each pull from it after the image was removed. "
              f"Load average (1 min) {load_before} before, "
              f"{Path('/proc/loadavg').read_text().split()[0]} after (2 cores, shared).\n\n"
              + table("push: wall time", data["push"], "s", ".3f") + "\n"
              + table("push: bytes sent (blobs stored by the fresh registry)", data["bytes"], "bytes", ",.0f")
              + "\n" + table("pull: wall time", data["pull"], "s", ".3f"))
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "registry.md").write_text(report)
    print(report)


if __name__ == "__main__":
    main()
