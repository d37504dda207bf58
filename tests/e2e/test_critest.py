"""critest, Kubernetes' CRI validation suite, against a private wharfd (issue 18).

The daemon has the critest images loaded and, like containerd's reference
setup, a loopback registry holding them that its ``hosts.toml`` files make
the mirror of registry.k8s.io, k8s.gcr.io and gcr.io, so the suite's pulls by
the original names work offline (``support.cri.run_critest``). The
``[Conformance]`` specs run, and the feature specs containerd 1.6 skips
(``FEATURES``); the test fails on any failure not listed in
``critest_expected_failures.txt`` (each with its cause). A listed spec that
passes is reported, so the list shrinks. ``bench/critest.py`` runs them all.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from support import cri

EXPECTED = Path(__file__).with_name("critest_expected_failures.txt")
#: specs that run only when the runtime has the feature (Status' handler features, the
#: CRI fields it honours): recursive read-only mounts, image volumes, masked/read-only
#: paths, user namespaces
FEATURES = (r"Container Mount Readonly", r"Image Volume", r"should support MaskedPaths",
            r"should support ReadonlyPaths", r"UserNamespaces")


def expected_failures() -> set[str]:
    """Spec names (the junit ``[It] ...`` names), one a line; ``#`` comments say why."""
    out = set()
    for line in EXPECTED.read_text().splitlines():
        name = line.split(" #", 1)[0].strip()
        if name and not name.startswith("#"):
            out.add(name)
    return out


def test_critest_conformance_and_features(make_wharfd: Any, tmp_path: Path) -> None:
    d = make_wharfd(with_busybox=False)
    result = cri.run_critest(d, tmp_path, focus="|".join((r"\[Conformance\]", *FEATURES)))
    expected = expected_failures()
    unexpected = {n: m for n, m in result.failed.items() if n not in expected}
    fixed = sorted(expected & result.passed)
    print(f"critest [Conformance] and features: {len(result.passed)} passed, "
          f"{len(result.failed)} failed")
    if fixed:
        print("now passing, drop from the list:\n  " + "\n  ".join(fixed))
    assert not unexpected, "unexpected critest failures:\n" + "\n".join(
        f"{n}\n    {m}" for n, m in sorted(unexpected.items()))
    skipped = [f for f in FEATURES if not any(re.search(f, n) for n in result.passed)]
    assert not skipped, f"feature specs that did not run (skipped): {skipped}"
