"""Docker's progress words: sizes, bars, throttled byte counts."""

from __future__ import annotations

from wharf.engine.distribution import parse_platform, pull_reference
from wharf.registry.client.progress import Meter, bar, human_size, short


def test_sizes_and_bars_as_docker_draws_them() -> None:
    assert human_size(0) == "0B" and human_size(999) == "999B"
    assert human_size(1_234_567) == "1.235MB" and human_size(100_000_000) == "100MB"
    assert bar(50, 100) == "[=========================>                         ]      50B/100B"
    assert bar(100, 100).startswith("[" + "=" * 50 + ">]")
    assert bar(5, 0) == "      5B"
    assert short("sha256:0123456789abcdef") == "0123456789ab"


def test_meter_throttles_but_reports_the_end() -> None:
    seen: list[dict] = []
    meter = Meter(seen.append, "abc", "Downloading", 1000)
    for _ in range(10):
        meter.add(100)
    assert 1 <= len(seen) < 10
    assert seen[-1]["progressDetail"] == {"current": 1000, "total": 1000}
    assert seen[-1]["id"] == "abc" and seen[-1]["status"] == "Downloading"


def test_pull_parameters_as_dockerd_reads_them() -> None:
    ref, all_tags = pull_reference("busybox", "")
    assert (ref.name, ref.tag, all_tags) == ("docker.io/library/busybox", None, True)
    ref, all_tags = pull_reference("localhost:5000/a", "v1")
    assert (str(ref), all_tags) == ("localhost:5000/a:v1", False)
    digest = "sha256:" + "a" * 64
    ref, _ = pull_reference("busybox", digest)
    assert ref.digest == digest and ref.tag is None
    ref, all_tags = pull_reference("busybox:1.36", "")
    assert ref.tag == "1.36" and not all_tags
    assert parse_platform("") is None
    assert parse_platform("linux/arm64/v8") == {"os": "linux", "architecture": "arm64", "variant": "v8"}
