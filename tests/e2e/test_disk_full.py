"""A full disk, as Docker takes it: every write refused with a message, running
containers keep running (their log lines dropped meanwhile), ``rm -f`` frees the
space, and wharfd keeps serving and restarts. Each test has its own 256 MB ext4
data root (``support.smalldisk``)."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "integration" / "registry_client"))
from registries import wharf_registry  # noqa: E402
from support.commands import ok  # noqa: E402

DISK_MB = 256
FILL = ("dd if=/dev/zero of=/big bs=1M; dd if=/dev/zero of=/big2 bs=512; "
        "for i in $(seq 300); do echo after $i; done")
TICKER = "i=0; while true; do echo tick $i; i=$((i+1)); sleep 0.05; done"


@pytest.fixture
def small(make_wharfd):
    return make_wharfd(data_disk_mb=DISK_MB)


def _fill(d) -> None:
    """A container fills the disk (attached: it must return), then the host takes the rest."""
    start = time.monotonic()
    r = d.wharf("run", "--name", "filler", "busybox", "sh", "-c", FILL, timeout=60)
    assert r.returncode == 0, r.stderr
    assert "No space left on device" in r.stderr and r.stdout.endswith("after 300\n")
    assert time.monotonic() - start < 30
    d.disk.fill()
    assert d.disk.free() < 1 << 20


def _space_back(d, timeout: float = 10) -> bool:
    """The disk has its space again (rm deletes in the background, after its answer)."""
    deadline = time.monotonic() + timeout
    while d.disk.free() < 200 << 20:
        if time.monotonic() > deadline:
            return False
        time.sleep(0.1)
    return True


def _running(d, name: str) -> bool:
    return d.api("GET", f"/containers/{name}/json")[1]["State"]["Running"]


def _ticks(d, name: str) -> list[int]:
    return [int(line.split()[1]) for line in ok(d.wharf("logs", name)).splitlines()]


def test_full_disk_drops_log_lines_refuses_writes_and_rm_f_frees_it(small, tmp_path):
    d = small
    ok(d.wharf("run", "-d", "--name", "ticker", "busybox", "sh", "-c", TICKER))
    _fill(d)
    time.sleep(1)  # the ticker writes on: its lines are dropped, it is not killed
    assert _running(d, "ticker")
    before = _ticks(d, "ticker")

    # every write is refused with Go's wording, and leaves nothing half made
    for args in (("create", "--name", "late", "busybox", "true"),
                 ("network", "create", "late-net"),
                 ("volume", "create", "late-vol")):
        r = d.wharf(*args)
        assert r.returncode != 0 and ": no space left on device" in r.stderr, (args, r.stderr)
        assert "Errno" not in r.stderr, r.stderr
    assert "late" not in ok(d.wharf("ps", "-a", "--format", "{{.Names}}")).split()
    assert "late-net" not in ok(d.wharf("network", "ls", "--format", "{{.Name}}")).split()
    assert "late-vol" not in ok(d.wharf("volume", "ls", "-q")).split()
    (tmp_path / "Dockerfile").write_text("FROM busybox\nRUN echo hi > /x\n")
    for args in (("commit", "filler", "snap"), ("build", "-t", "late-img", str(tmp_path))):
        r = d.wharf(*args)
        assert r.returncode != 0 and ": no space left on device" in r.stderr, (args, r.stderr)
        assert "Errno" not in r.stderr, r.stderr
    assert ok(d.wharf("images", "--format", "{{.Repository}}")).split() == ["busybox"]
    for scratch in ("image/layers/tmp", "image/rw/.tmp", "image/content/ingest", "builder/tmp"):
        assert list((d.data_root / scratch).iterdir()) == [], scratch

    ok(d.wharf("rm", "-f", "filler"))
    assert _space_back(d)

    # space is back: the ticker logs again, it never stopped running
    time.sleep(1)
    after = _ticks(d, "ticker")
    assert _running(d, "ticker") and len(after) > len(before) + 5
    assert after == sorted(after) and after[-1] - after[0] + 1 > len(after)  # a gap: dropped
    ok(d.wharf("network", "create", "late-net"))
    ok(d.wharf("network", "rm", "late-net"))
    ok(d.wharf("stop", "-t", "0", "ticker"))
    assert "log lines dropped: no space left on device" in d.log()


def test_wharfd_restarts_on_a_full_disk_and_rm_f_and_rmi_still_free(small):
    d = small
    ok(d.wharf("run", "--name", "maker", "busybox", "dd", "if=/dev/urandom", "of=/blob", "bs=1M",
               "count=8"))
    ok(d.wharf("commit", "maker", "extra"))
    ok(d.wharf("rm", "maker"))
    ok(d.wharf("run", "-d", "--name", "ticker", "busybox", "sh", "-c", TICKER))
    _fill(d)
    d.restart()
    assert _running(d, "ticker")
    d.restart(kill=True)
    assert sorted(ok(d.wharf("ps", "-a", "--format", "{{.Names}}")).split()) == ["filler", "ticker"]
    ok(d.wharf("rmi", "extra"))  # its layer goes, though the disk is full
    assert d.disk.free() > 7 << 20
    ok(d.wharf("stop", "-t", "0", "ticker"))  # its exit is not saved, but it is told
    assert not _running(d, "ticker")
    ok(d.wharf("rm", "-f", "filler"))
    assert _space_back(d)
    ok(d.wharf("rmi", "-f", "busybox"))  # its layers stay for the ticker
    ok(d.wharf("rm", "-f", "ticker"))
    d.restart()
    assert ok(d.wharf("ps", "-aq")) == ""
    assert "Traceback" not in d.log()


def test_a_removal_cut_short_on_a_full_disk_is_finished_by_the_next_start(small):
    """What an ``rm`` that could not rename leaves (the record deleted, the rest not yet)
    is deleted at the next start, rw layer included."""
    d = small
    _fill(d)
    cid = ok(d.wharf("inspect", "-f", "{{.Id}}", "filler")).strip()
    d.stop()
    (d.data_root / "containers" / cid / "config.v2.json").unlink()
    d.start()
    assert _space_back(d)
    assert ok(d.wharf("ps", "-aq")) == ""
    assert not (d.data_root / "image" / "rw" / cid).exists()


def test_a_pull_the_disk_refuses_leaves_no_partial_files_and_works_once_freed(small, tmp_path):
    d = small
    registry = wharf_registry(tmp_path, "open")
    try:
        ref = f"{registry.addr}/big:1"
        (tmp_path / "Dockerfile").write_text(
            "FROM busybox\nRUN dd if=/dev/urandom of=/blob bs=1M count=16\n")
        ok(d.wharf("build", "-t", ref, str(tmp_path)))
        ok(d.wharf("push", ref))
        ok(d.wharf("rmi", ref))
        _fill(d)
        r = d.wharf("pull", ref)
        assert r.returncode != 0 and "no space left on device" in r.stdout + r.stderr
        for scratch in ("image/layers/tmp", "image/content/ingest"):
            assert list((d.data_root / scratch).iterdir()) == [], scratch
        ok(d.wharf("rm", "-f", "filler"))
        assert _space_back(d)
        ok(d.wharf("pull", ref))
        assert ok(d.wharf("run", "--rm", ref, "wc", "-c", "/blob")).split()[0] == str(16 << 20)
    finally:
        registry.stop()
