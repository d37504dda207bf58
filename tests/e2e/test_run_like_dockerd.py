"""Issue 17's "Must show", but for its log-driver parts (rotation, ``local``, ``none``):
a private wharfd configured only by a daemon.json, used through the docker CLI."""

from __future__ import annotations

import json
import signal

import pytest

from support.commands import ok
from support.polling import eventually

pytestmark = pytest.mark.root


def test_must_show(make_wharfd):
    d = make_wharfd(daemon_json={
        "log-driver": "json-file", "log-opts": {"max-size": "1m", "max-file": "2"},
        "default-ulimits": {"nofile": {"Name": "nofile", "Hard": 2048, "Soft": 2048}}})
    assert set(json.loads(d.config_file.read_text())) >= {
        "hosts", "data-root", "exec-root", "bip", "bridge", "cgroup-parent", "log-opts",
        "default-ulimits"}
    assert "--config-file" in d.proc.args and "-H" not in d.proc.args  # nothing as a flag
    assert ok(d.docker("run", "--rm", "busybox", "sh", "-c", "ulimit -n")).strip() == "2048"
    r = d.docker("run", "--rm", "--log-driver", "nosuch", "busybox", "true")
    assert r.returncode != 0 and "logger: no log driver named 'nosuch' is registered" in r.stderr

    # the daemon's json-file options reach the shim's rotation: 5 MB of output, 2 files
    chatty = ok(d.docker("run", "-d", "busybox", "sh", "-c",
                          "i=0; while [ $i -lt 50000 ]; do echo line-$i-$(printf %080d 0); "
                          "i=$((i+1)); done; echo last-line")).strip()
    assert ok(d.docker("wait", chatty)).strip() == "0"
    logs = [p for p in (d.data_root / "containers" / chatty).iterdir() if "-json.log" in p.name]
    assert 1 <= len(logs) <= 2 and all(p.stat().st_size <= 1024 * 1024 + 4096 for p in logs)
    assert ok(d.docker("logs", "--tail", "1", chatty)).strip() == "last-line"
    d.docker("rm", chatty)
    local = ok(d.docker("run", "-d", "--log-driver", "local", "busybox", "echo", "from-local")).strip()
    assert ok(d.docker("wait", local)).strip() == "0"
    assert ok(d.docker("logs", local)).strip() == "from-local"
    quiet = ok(d.docker("run", "-d", "--log-driver", "none", "busybox", "echo", "unkept")).strip()
    r = d.docker("logs", quiet)
    assert r.returncode != 0 and "configured logging driver does not support reading" in r.stderr
    d.docker("rm", "-f", local, quiet)

    cid = ok(d.docker("run", "-d", "-m", "32m", "busybox", "sleep", "600")).strip()
    ok(d.docker("update", "--memory", "64m", cid)).strip()
    assert ok(d.docker("exec", cid, "cat", "/sys/fs/cgroup/memory/memory.limit_in_bytes")).strip() \
        == str(64 << 20)
    assert json.loads(d.docker("inspect", cid).stdout)[0]["HostConfig"]["Memory"] == 64 << 20

    stopped = ok(d.docker("create", "busybox", "true")).strip()
    assert ok(d.docker("container", "prune", "-f")).strip().splitlines()[:2] == \
        ["Deleted Containers:", stopped]
    ok(d.docker("create", "busybox", "true")).strip()
    ok(d.docker("network", "create", "spare")).strip()
    ok(d.docker("system", "prune", "-f")).strip()
    assert ok(d.docker("ps", "-aq", "--no-trunc")).strip() == cid
    assert "spare" not in ok(d.docker("network", "ls", "--format", "{{.Name}}")).strip().split()

    assert ok(d.docker("info", "--format", "{{.Debug}}")).strip() == "false"
    settings = json.loads(d.config_file.read_text())
    d.config_file.write_text(json.dumps({**settings, "debug": True}))
    d.proc.send_signal(signal.SIGHUP)
    assert eventually(lambda: ok(d.docker("info", "--format", "{{.Debug}}")).strip() == "true",
                      timeout=30), d.log()
    d.docker("rm", "-f", cid)
