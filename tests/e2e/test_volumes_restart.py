"""Volume data and bookkeeping across container removal, a daemon restart and a ``kill -9``
of the daemon (private daemons: these tests stop theirs)."""

from __future__ import annotations

import time
from pathlib import Path

from support.commands import ok


def test_data_survives_rm_and_a_daemon_restart(make_wharfd):
    d = make_wharfd()
    ok(d.wharf("volume", "create", "--label", "keep=yes", "notes"))
    ok(d.wharf("run", "--name", "writer", "-v", "notes:/n", "-v", "/anon", "busybox", "sh", "-c",
               "echo first > /n/f; echo scratch > /anon/s"))
    anon = ok(d.wharf("inspect", "-f", "{{range .Mounts}}{{.Name}} {{end}}", "writer")).split()[1]
    d.restart()
    # the record's mount points came back: rm -v still knows the anonymous volume
    ok(d.wharf("rm", "-v", "writer"))
    assert ok(d.wharf("volume", "ls", "-q")).split() == ["notes"]
    assert ok(d.wharf("volume", "inspect", "-f", "{{.Labels}}", "notes")) == "map[keep:yes]\n"
    assert ok(d.wharf("run", "--rm", "-v", "notes:/n", "busybox", "cat", "/n/f")) == "first\n"
    assert anon not in ok(d.wharf("volume", "ls", "-q"))


def test_kill_9_of_the_daemon_keeps_data_use_and_option_mounts_right(make_wharfd):
    d = make_wharfd()
    ok(d.wharf("volume", "create", "-o", "type=tmpfs", "-o", "device=tmpfs", "-o", "o=size=1m",
               "fast"))
    loop = "i=0; while true; do echo $i >> /log/lines; i=$((i+1)); sleep 0.1; done"
    ok(d.wharf("run", "-d", "--name", "logger", "-v", "logs:/log", "-v", "fast:/fast", "busybox",
               "sh", "-c", loop))
    time.sleep(0.5)
    d.stop(kill=True)
    time.sleep(1)  # the container keeps writing into its volume while no daemon runs
    d.start()
    status, body = d.api("DELETE", "/volumes/logs")
    assert status == 409 and "volume is in use" in body["message"]
    ok(d.wharf("stop", "-t", "0", "logger"))
    lines = ok(d.wharf("run", "--rm", "-v", "logs:/log", "busybox", "cat", "/log/lines")).split()
    assert len(lines) >= 10 and lines == [str(i) for i in range(len(lines))]
    fast = Path(d.data_root, "volumes", "fast", "_data")
    assert str(fast) not in Path("/proc/self/mountinfo").read_text()
    ok(d.wharf("rm", "logger"))
    assert ok(d.wharf("volume", "rm", "logs", "fast")) == "logs\nfast\n"
