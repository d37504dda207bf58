"""State files and the per-container /etc files."""

import json
import os
import signal

import pytest

from wharf.engine import etcfiles
from wharf.engine.containers import parse_signal
from wharf.engine.store import read_json, write_json_atomic
from wharf.errors import InvalidParameter


def test_atomic_json_replaces_and_leaves_no_temp(tmp_path):
    path = str(tmp_path / "config.v2.json")
    assert read_json(path) is None
    write_json_atomic(path, {"a": 1})
    write_json_atomic(path, {"a": 2})
    assert read_json(path) == {"a": 2}
    assert os.listdir(tmp_path) == ["config.v2.json"]
    assert oct(os.stat(path).st_mode & 0o777) == "0o600"
    with pytest.raises(TypeError):
        write_json_atomic(path, {"bad": object()})
    assert json.loads(open(path).read()) == {"a": 2} and os.listdir(tmp_path) == ["config.v2.json"]


def test_resolv_conf_drops_loopback_nameservers():
    host = "nameserver 127.0.0.53\nnameserver ::1\nnameserver 10.0.0.2\nsearch example.com\n"
    out = etcfiles.resolv_content(host, host_network=False)
    assert out == "nameserver 10.0.0.2\nsearch example.com\n"
    assert etcfiles.resolv_content(host, host_network=True) == host
    only_local = etcfiles.resolv_content("nameserver 127.0.0.53\n", host_network=False)
    assert only_local == "nameserver 8.8.8.8\nnameserver 8.8.4.4\n"
    custom = etcfiles.resolv_content(host, False, dns=["1.1.1.1"], search=["a.b"], options=["ndots:2"])
    assert custom.splitlines() == ["nameserver 1.1.1.1", "search a.b", "options ndots:2"]


def test_hosts_and_files_written(tmp_path):
    hosts = etcfiles.hosts_content("abc123", ["db:10.0.0.5"])
    assert "127.0.0.1\tlocalhost" in hosts and "::1\tlocalhost" in hosts
    assert "10.0.0.5\tdb" in hosts and hosts.endswith("\tabc123\n")
    paths = etcfiles.write_all(str(tmp_path), "abc123", {"NetworkMode": "default"})
    assert set(paths) == {"/etc/hostname", "/etc/hosts", "/etc/resolv.conf"}
    assert open(paths["/etc/hostname"]).read() == "abc123\n"


def test_signals():
    assert parse_signal("KILL") == parse_signal("SIGKILL") == parse_signal("9") == signal.SIGKILL
    assert parse_signal("hup") == signal.SIGHUP
    assert parse_signal(None, signal.SIGTERM) == signal.SIGTERM
    for bad in ("SIGNOPE", "0", "999"):
        with pytest.raises(InvalidParameter, match="Invalid signal"):
            parse_signal(bad)
