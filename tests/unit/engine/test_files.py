"""State files and the per-container /etc files."""

import json
import os
import signal

import pytest

from wharf.config import DaemonConfig
from wharf.engine import etcfiles
from wharf.engine.containers import parse_signal
from wharf.fsutil import read_json, write_json_atomic
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


def test_etc_files_written_for_a_start(tmp_path):
    hc = {"NetworkMode": "default", "ExtraHosts": ["db:10.0.0.5"], "Dns": ["1.1.1.1"]}
    paths = etcfiles.write_all(str(tmp_path), "abc123", hc, DaemonConfig(dns=["9.9.9.9"]))
    assert set(paths) == {"/etc/hostname", "/etc/hosts", "/etc/resolv.conf"}
    assert open(paths["/etc/hostname"]).read() == "abc123\n"
    hosts = open(paths["/etc/hosts"]).read()
    assert "127.0.0.1\tlocalhost" in hosts and "10.0.0.5\tdb" in hosts
    assert hosts.endswith("\tabc123\n")
    assert open(paths["/etc/resolv.conf"]).read().splitlines()[0] == "nameserver 1.1.1.1"
    host_mode = etcfiles.contents("abc123", {"NetworkMode": "host"}, DaemonConfig())
    assert host_mode["/etc/resolv.conf"][1] == open("/etc/resolv.conf").read()


def test_daemon_resolver_settings_fill_what_a_container_leaves_out():
    daemon = DaemonConfig(dns=["9.9.9.9"], dns_search=["corp.example"], dns_opts=["ndots:2"])
    resolv = etcfiles.contents("abc", {"DnsSearch": ["mine.example"]}, daemon)["/etc/resolv.conf"][1]
    assert "nameserver 9.9.9.9" in resolv.splitlines()
    assert "search mine.example" in resolv.splitlines() and "corp.example" not in resolv
    assert "options ndots:2" in resolv.splitlines()


def test_signals():
    assert parse_signal("KILL") == parse_signal("SIGKILL") == parse_signal("9") == signal.SIGKILL
    assert parse_signal("hup") == signal.SIGHUP
    assert parse_signal(None, signal.SIGTERM) == signal.SIGTERM
    for bad in ("SIGNOPE", "0", "999"):
        with pytest.raises(InvalidParameter, match="Invalid signal"):
            parse_signal(bad)


@pytest.mark.parametrize("state", [{"Running": False, "Pid": 0}, {"Running": True, "Pid": 0},
                                   {"Running": False, "Pid": 4242}])
def test_a_stopped_container_is_never_signalled(monkeypatch, state):
    """``kill(0, sig)`` is wharfd's own process group: a stop whose timeout ended as the
    container exited (Pid reset to 0) once killed the daemon."""
    from wharf.engine.container import Container, new_state
    from wharf.engine.containers import ContainerService

    sent = []
    monkeypatch.setattr(os, "kill", lambda pid, sig: sent.append((pid, sig)))
    c = Container({"Id": "a" * 64, "State": {**new_state(), **state}}, "/nonexistent")
    ContainerService._signal(None, c, signal.SIGKILL)  # type: ignore[arg-type]
    assert sent == []
