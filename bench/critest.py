"""critest, all specs, against a private wharfd: counts and failures to bench/results/critest.md.

The same setup as tests/e2e/test_critest.py (critest images loaded and
mirrored from a loopback registry through hosts.toml; exec and attach over
websocket). containerd's figures are the reference run of
``../shared/tools/cri/README.md`` (Debian's containerd 1.6.20 on this kind of
machine), quoted, not measured here.
Run as root: ``.venv/bin/python bench/critest.py``.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))
from support import cri  # noqa: E402
from support.daemon import Daemon  # noqa: E402

RESULTS = REPO / "bench" / "results"
CONTAINERD = {"all": (91, 3, 48), "conformance": (47, 1, 94)}


def main() -> None:
    rows, failures = [], {}
    for label, focus in (("all", None), ("conformance", r"\[Conformance\]")):
        d = Daemon(log_level="info")
        d.start()
        try:
            with tempfile.TemporaryDirectory() as tmp:
                r = cri.run_critest(d, Path(tmp), focus)
        finally:
            problems = d.shutdown()
        assert not problems, problems
        p, f, s = CONTAINERD[label]
        rows.append(f"| {label} | {len(r.passed)} | {len(r.failed)} | {r.skipped} "
                    f"| {p} | {f} | {s} |")
        failures[label] = sorted(r.failed)
    text = ["# critest: wharf and containerd 1.6.20", "",
            "`.venv/bin/python bench/critest.py`; containerd's columns are the reference run "
            "in `shared/tools/cri/README.md`.", "",
            "| specs | wharf passed | failed | skipped | containerd passed | failed | skipped |",
            "|---|---|---|---|---|---|---|", *rows, "", "## wharf's failures (all specs)", "",
            *(f"- {name}" for name in failures["all"]), ""]
    (RESULTS / "critest.md").write_text("\n".join(text))
    print("\n".join(text))


if __name__ == "__main__":
    main()
