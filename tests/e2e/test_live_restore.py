"""wharfd can die and come back while containers keep running (live restore)."""

from __future__ import annotations

import time


def _lines(d, cid: str) -> list[str]:
    return d.wharf("logs", cid).stdout.splitlines()


def test_kill_9_of_wharfd_leaves_ten_containers_running(make_wharfd):
    d = make_wharfd()
    script = "i=0; while true; do echo tick $i; i=$((i+1)); sleep 0.2; done"
    ids = []
    for n in range(10):
        r = d.wharf("run", "-d", "--name", f"c{n}", "busybox", "sh", "-c", script)
        assert r.returncode == 0, r.stderr
        ids.append(r.stdout.strip())
    time.sleep(0.5)
    before = {cid: _lines(d, cid) for cid in ids}
    pids = {cid: d.api("GET", f"/containers/{cid}/json")[1]["State"]["Pid"] for cid in ids}

    d.stop(kill=True)
    time.sleep(1)  # the containers keep writing while no daemon runs
    for cid, pid in pids.items():
        assert open(f"/proc/{pid}/cmdline", "rb").read().startswith(b"sh\0-c\0")
    d.start()

    listed = d.wharf("ps", "-q", "--no-trunc").stdout.split()
    assert sorted(listed) == sorted(ids)
    for cid in ids:
        after = _lines(d, cid)
        assert after[: len(before[cid])] == before[cid]
        assert len(after) > len(before[cid]) + 3  # lines written during the outage too
        assert after == [f"tick {i}" for i in range(len(after))]  # nothing lost or doubled

    # logs -f and wait still work on a restored container
    follow = d.wharf("logs", "--tail", "1", ids[0])
    assert follow.stdout.startswith("tick")
    assert d.wharf("stop", "-t", "1", ids[0]).returncode == 0
    assert d.wharf("wait", ids[0]).stdout.strip() == "137"  # sh ignores SIGTERM as PID 1
    assert d.wharf("inspect", "-f", "{{.State.Status}}", ids[0]).stdout.strip() == "exited"


def test_container_exiting_while_the_daemon_is_down_is_seen_as_exited(make_wharfd):
    d = make_wharfd()
    cid = d.wharf("run", "-d", "busybox", "sh", "-c", "sleep 1; echo bye; exit 7").stdout.strip()
    d.stop(kill=True)
    time.sleep(2)
    d.start()
    assert d.wharf("wait", cid).stdout.strip() == "7"
    assert d.wharf("logs", cid).stdout == "bye\n"


def test_restart_policy_always_holds_across_a_daemon_restart(make_wharfd):
    d = make_wharfd()
    cid = d.wharf("run", "-d", "--restart", "always", "busybox", "sh", "-c", "sleep 1; exit 1").stdout.strip()
    d.stop(kill=True)
    time.sleep(2)  # it exits while the daemon is down
    d.start()
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        info = d.api("GET", f"/containers/{cid}/json")[1]
        if info["RestartCount"] >= 1 and info["State"]["Running"]:
            break
        time.sleep(0.2)
    assert info["RestartCount"] >= 1 and info["State"]["Running"]


def test_a_created_rm_container_is_removed_at_restart_as_under_docker(make_wharfd):
    """Docker's boot rule: a --rm container that is not running is removed (its record,
    written without fsync, could only ever hold a container bound for removal)."""
    d = make_wharfd()
    kept = d.wharf("create", "--name", "kept", "busybox", "true")
    gone = d.wharf("create", "--rm", "--name", "gone", "busybox", "true")
    assert kept.returncode == 0 and gone.returncode == 0, (kept.stderr, gone.stderr)
    d.restart(kill=True)
    names = d.wharf("ps", "-a", "--format", "{{.Names}}").stdout.split()
    assert "kept" in names and "gone" not in names


def test_a_restored_container_keeps_its_pid_and_start_time(make_wharfd):
    """A start writes the record once, before the process runs (no pid yet): after a
    kill -9 of wharfd, inspect still shows the pid (asked of the shim) and the start
    time it showed before, and a stop reaches the process."""
    d = make_wharfd()
    cid = d.wharf("run", "-d", "busybox", "sleep", "600").stdout.strip()
    before = d.api("GET", f"/containers/{cid}/json")[1]["State"]
    d.restart(kill=True)
    after = d.api("GET", f"/containers/{cid}/json")[1]["State"]
    assert after["Running"] and after["Pid"] == before["Pid"] > 0
    assert after["StartedAt"] == before["StartedAt"]
    assert d.wharf("stop", "-t", "0", cid).returncode == 0
    assert d.wharf("inspect", "-f", "{{.State.ExitCode}}", cid).stdout.strip() == "137"
