"""A broken container record does not stop wharfd: Docker logs the container, lists
it as dead and serves the rest; ``rm -f`` cleans it up."""

from __future__ import annotations

import os

from support.commands import ok


def test_a_truncated_record_is_listed_dead_and_rm_f_removes_it(make_wharfd):
    d = make_wharfd()
    healthy = ok(d.wharf("run", "-d", "--name", "healthy", "busybox", "sleep", "300")).strip()
    ok(d.wharf("run", "--name", "broken", "busybox", "sh", "-c", "echo hi > /f"))
    broken = ok(d.wharf("inspect", "-f", "{{.Id}}", "broken")).strip()
    d.stop()
    record = d.data_root / "containers" / broken / "config.v2.json"
    text = record.read_bytes()
    record.write_bytes(text[: len(text) // 2])  # torn, as by a crash mid-write

    d.start()
    assert "broken record" in d.log()
    listed = dict(line.split() for line in ok(d.wharf(
        "ps", "-a", "--format", "{{.Names}} {{.State}}")).splitlines())
    assert listed == {"healthy": "running", "broken": "dead"}
    assert ok(d.wharf("exec", "healthy", "echo", "alive")) == "alive\n"
    r = d.wharf("start", "broken")
    assert r.returncode != 0 and "marked for removal" in r.stderr

    ok(d.wharf("rm", "-f", "broken"))
    assert ok(d.wharf("ps", "-a", "--format", "{{.Names}}")).split() == ["healthy"]
    assert not (d.data_root / "containers" / broken).exists()
    assert not (d.data_root / "image" / "rw" / broken).exists()
    d.restart()
    assert ok(d.wharf("ps", "--format", "{{.ID}}")).split() == [healthy[:12]]


def test_a_record_that_is_not_json_at_all_still_gives_a_dead_container(make_wharfd):
    d = make_wharfd()
    cid = ok(d.wharf("create", "--name", "garbled", "busybox", "true")).strip()
    d.stop()
    (d.data_root / "containers" / cid / "config.v2.json").write_bytes(os.urandom(64))
    d.start()
    info = d.api("GET", f"/containers/{cid}/json")[1]
    assert info["State"]["Status"] == "dead" and info["State"]["Dead"] is True
    ok(d.wharf("rm", cid))
    assert ok(d.wharf("ps", "-aq")) == ""


def test_partial_downloads_of_an_earlier_version_do_not_survive_a_restart(make_wharfd):
    """Pulls stream in memory now; a data root an earlier wharfd was killed in mid-pull
    still has its partial layers under distribution/downloads: they go at start."""
    d = make_wharfd(with_busybox=False)
    d.stop(kill=True)
    downloads = d.data_root / "distribution" / "downloads"
    (downloads / "layer-in-flight").mkdir(parents=True)
    (downloads / "layer-in-flight" / "data").write_bytes(b"\0" * 4096)
    d.start()
    assert not downloads.exists()


def test_a_running_container_with_a_broken_record_is_dead_and_rm_f_stops_it(make_wharfd):
    """Its process, rootfs mount and cgroup go with ``rm -f`` (the fixture checks nothing
    is left in the kernel)."""
    d = make_wharfd()
    cid = ok(d.wharf("run", "-d", "--name", "orphan", "busybox", "sleep", "300")).strip()
    pid = d.api("GET", f"/containers/{cid}/json")[1]["State"]["Pid"]
    d.stop(kill=True)
    (d.data_root / "containers" / cid / "config.v2.json").write_bytes(b'{"Id": "' + cid.encode())
    d.start()
    assert d.api("GET", f"/containers/{cid}/json")[1]["State"]["Status"] == "dead"
    ok(d.wharf("rm", "-f", cid[:12]))
    assert not os.path.exists(f"/proc/{pid}") or open(f"/proc/{pid}/stat").read().split()[2] == "Z"
    assert ok(d.wharf("ps", "-aq")) == ""
    assert not any(cid in line for line in open("/proc/self/mountinfo"))
