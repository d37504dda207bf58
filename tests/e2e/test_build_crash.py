"""wharfd killed in the middle of a build: the next start collects the step's mounts and snapshots."""

from __future__ import annotations

import subprocess
import time

from support.daemon import BIN
from wharf.linux import mountinfo


def _build_mounts(d) -> list[str]:
    return mountinfo.below(str(d.data_root / "builder" / "tmp"))


def test_kill_during_copy_then_restart(make_wharfd, tmp_path):
    d = make_wharfd()
    (tmp_path / "Dockerfile").write_text(
        "FROM busybox AS big\nRUN dd if=/dev/zero of=/big bs=1M count=400\n"
        "FROM busybox\nCOPY --from=big /big /big\n")
    build = subprocess.Popen([str(BIN / "wharf"), "build", "-t", "crash", str(tmp_path)], env=d.env,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while not _build_mounts(d):
            assert build.poll() is None, "the build ended before its COPY was caught"
            assert time.monotonic() < deadline
            time.sleep(0.01)
        d.restart(kill=True)
    finally:
        build.wait(30)
    assert _build_mounts(d) == []
    snapshots = d.data_root / "image" / "rw"
    assert not [p for p in snapshots.iterdir() if p.name.startswith("wharf-build-")]
    (tmp_path / "Dockerfile").write_text("FROM busybox\nRUN echo again > /again\n")
    r = d.wharf("build", "-t", "after", str(tmp_path))
    assert r.returncode == 0, r.stderr
    for cid in d.wharf("ps", "-aq").stdout.split():  # the RUN step a crash cut short, if any
        d.wharf("rm", "-f", cid)
