"""critest, Kubernetes' CRI validation suite, against a private wharfd (issue 18).

The daemon has the critest images loaded and, like containerd's reference
setup, a loopback registry holding them that its ``hosts.toml`` files make
the mirror of registry.k8s.io, k8s.gcr.io and gcr.io, so the suite's pulls by
the original names work offline. The ``[Conformance]`` specs run; the test
fails on any failure not listed in ``critest_expected_failures.txt`` (each
with its cause). A listed spec that passes is reported, so the list shrinks.
"""

from __future__ import annotations

import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

from support import cri

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "integration" / "registry_client"))
from registries import wharf_registry  # noqa: E402

EXPECTED = Path(__file__).with_name("critest_expected_failures.txt")


def expected_failures() -> set[str]:
    """Spec names (the junit ``[It] ...`` names), one a line; ``#`` comments say why."""
    out = set()
    for line in EXPECTED.read_text().splitlines():
        name = line.split(" #", 1)[0].strip()
        if name and not name.startswith("#"):
            out.add(name)
    return out


def test_critest_conformance(make_wharfd: Any, tmp_path: Path) -> None:
    d = make_wharfd(with_busybox=False)
    cri.load_images(d)
    registry = wharf_registry(tmp_path, "open")
    try:
        cri.mirror_images(d, registry.addr)
        tools = cri.unpack(tmp_path / "bin")
        endpoint = f"unix://{d.cri_socket}"
        report = tmp_path / "critest.xml"
        run = subprocess.run(
            [str(tools / "critest"), "--runtime-endpoint", endpoint, "--image-endpoint", endpoint,
             "--ginkgo.focus", r"\[Conformance\]", "--ginkgo.junit-report", str(report),
             # wharf's streaming server speaks Kubernetes' websocket protocol, not SPDY
             "-websocket-exec", "-websocket-attach"],
            capture_output=True, text=True, timeout=1800, cwd=tmp_path)
    finally:
        registry.stop()
    assert report.exists(), run.stdout[-4000:] + run.stderr[-4000:]
    passed, failed = set(), {}
    for case in ET.parse(report).iter("testcase"):
        name, status = case.get("name", ""), case.get("status")
        if status == "passed":
            passed.add(name)
        elif status in ("failed", "panicked"):
            failure = case.find("failure")
            failed[name] = (failure.get("message") if failure is not None else "")[:300]
    expected = expected_failures()
    unexpected = {n: m for n, m in failed.items() if n not in expected}
    fixed = sorted(expected & passed)
    print(f"critest [Conformance]: {len(passed)} passed, {len(failed)} failed")
    if fixed:
        print("now passing, drop from the list:\n  " + "\n  ".join(fixed))
    assert not unexpected, "unexpected critest failures:\n" + "\n".join(
        f"{n}\n    {m}" for n, m in sorted(unexpected.items()))
