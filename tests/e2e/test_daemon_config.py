"""wharfd configured as dockerd: daemon.json, its refusals, SIGHUP, the daemon-wide
defaults new containers get, and a shutdown without live restore."""

from __future__ import annotations

import grp
import json
import os
import shutil
import signal
import socket
import subprocess
from pathlib import Path

import pytest

from support.daemon import BIN, Daemon
from support.polling import eventually

pytestmark = pytest.mark.root


def _wharfd(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(BIN / "wharfd"), *args], capture_output=True, text=True, timeout=60)


def test_unknown_and_doubly_given_keys_refuse_the_start(tmp_path):
    path = tmp_path / "daemon.json"
    path.write_text(json.dumps({"debug": True, "no-such-key": 1, "other-unknown": "x"}))
    r = _wharfd("--config-file", str(path), "--validate")
    assert r.returncode == 1
    assert r.stderr.strip() == (
        f"wharfd: unable to configure the Docker daemon with file {path}: the following "
        "directives don't match any configuration option: no-such-key, other-unknown")
    path.write_text(json.dumps({"data-root": "/from/file", "labels": ["a=b"], "mtu": 1400}))
    r = _wharfd("--config-file", str(path), "--data-root", "/from/flag", "--label", "c=d",
                "--validate")
    assert r.returncode == 1
    assert r.stderr.strip() == (
        f"wharfd: unable to configure the Docker daemon with file {path}: the following "
        "directives are specified both as a flag and in the configuration file: data-root: "
        "(from flag: /from/flag, from file: /from/file), labels: (from flag: [c=d], from "
        "file: [a=b])")
    r = _wharfd("--config-file", str(tmp_path / "missing.json"), "--validate")
    assert r.returncode == 1 and "no such file or directory" in r.stderr
    path.write_text(json.dumps({"debug": "yes"}))
    r = _wharfd("--config-file", str(path), "--validate")
    assert r.returncode == 1 and "cannot unmarshal string into Go struct field Config.debug " \
                                 "of type bool" in r.stderr


def test_bad_values_refused_with_dockerds_words(tmp_path):
    (tmp_path / "none.json").write_text("{}")
    for args, words in ((["--log-driver", "nosuch"], "failed to set log opts: logger: no log "
                                                     "driver named 'nosuch' is registered"),
                        (["--log-opt", "color=red"], "unknown log opt 'color' for json-file"),
                        (["--storage-driver", "aufs"], "driver not supported: aufs"),
                        (["--default-ulimit", "nofiles=3"], "invalid ulimit type: nofiles"),
                        (["--default-runtime", "nosuch"],
                         "specified default runtime 'nosuch' does not exist"),
                        (["--label", "a=1", "--label", "a=2"],
                         "conflict labels for a=2 and a=1")):
        r = _wharfd("--config-file", str(tmp_path / "none.json"), *args, "--validate")
        assert r.returncode != 0 and words in r.stderr, (args, r.stderr)
    (tmp_path / "ok.json").write_text(json.dumps({
        "default-ulimits": {"nofile": {"Name": "nofile", "Hard": 4096, "Soft": 1024}},
        "default-address-pools": [{"base": "10.123.0.0/16", "size": 24}],
        "log-opts": {"max-size": "10m"}, "default-shm-size": "128M", "live-restore": False}))
    r = _wharfd("--config-file", str(tmp_path / "ok.json"), "--validate")
    assert r.returncode == 0 and "configuration OK" in r.stderr


def _info(d, template: str) -> str:
    r = d.docker("info", "--format", template)
    assert r.returncode == 0, r.stderr
    return r.stdout.strip()


def test_a_daemon_started_from_daemon_json_only(make_wharfd):
    d = make_wharfd(daemon_json={
        "log-driver": "json-file", "log-opts": {"max-size": "1m", "max-file": "2"},
        "default-ulimits": {"nofile": {"Name": "nofile", "Hard": 2048, "Soft": 2048}},
        "dns": ["192.0.2.53"], "dns-search": ["corp.example"], "labels": ["tier=test"],
        "default-shm-size": "96M", "debug": False}, log_level="info")
    assert _info(d, "{{.Labels}} {{.LoggingDriver}} {{.Debug}}") == "[tier=test] json-file false"
    r = d.docker("run", "--rm", "busybox", "sh", "-c",
                 "ulimit -n; ulimit -Hn; grep -E '^(nameserver|search)' /etc/resolv.conf; "
                 "df -k /dev/shm | tail -1")
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[:4] == ["2048", "2048", "nameserver 192.0.2.53", "search corp.example"]
    assert lines[4].split()[1] == str(96 * 1024)
    # the container's own settings win over the daemon's
    r = d.docker("run", "--rm", "--ulimit", "nofile=512:1024", "--dns", "192.0.2.99",
                 "busybox", "sh", "-c", "ulimit -n; grep nameserver /etc/resolv.conf")
    assert r.stdout.splitlines() == ["512", "nameserver 192.0.2.99"], r.stderr
    cid = d.docker("create", "busybox", "true").stdout.strip()
    hc = json.loads(d.docker("inspect", cid).stdout)[0]["HostConfig"]
    assert hc["LogConfig"] == {"Type": "json-file", "Config": {"max-size": "1m", "max-file": "2"}}
    assert hc["ShmSize"] == 96 * 1024 * 1024
    for args, words in ((["--log-driver", "nosuch"], "logger: no log driver named 'nosuch' is "
                                                     "registered"),
                        (["--log-opt", "color=red"], "unknown log opt 'color' for json-file "
                                                     "log driver")):
        r = d.docker("create", *args, "busybox", "true")
        assert r.returncode != 0 and words in r.stderr, r.stderr

    # SIGHUP: the reloadable keys change, the rest wait for a restart
    d.write_config({"debug": True, "labels": ["tier=prod"], "insecure-registries": ["reg.example:5000"],
                    "shutdown-timeout": 3})
    d.proc.send_signal(signal.SIGHUP)
    eventually(lambda: _info(d, "{{.Debug}}") == "true", timeout=30)
    assert _info(d, "{{.Debug}} {{.Labels}}") == "true [tier=prod]"
    assert "reg.example:5000" in _info(d, "{{json .RegistryConfig.IndexConfigs}}")
    assert "Reloaded configuration" in d.log() and \
        'reload: labels changed from ["tier=test"] to ["tier=prod"]' in d.log()
    # a file the start would refuse changes nothing
    d.write_config({"debug": False, "bogus": 1})
    d.proc.send_signal(signal.SIGHUP)
    eventually(lambda: "Error reloading configuration" in d.log(), timeout=30)
    assert "don't match any configuration option: bogus" in d.log()
    assert _info(d, "{{.Debug}}") == "true"


def test_without_live_restore_a_shutdown_stops_the_containers(make_wharfd):
    d = make_wharfd(extra_args=["--live-restore=false", "--shutdown-timeout", "1"])
    assert _info(d, "{{.LiveRestoreEnabled}}") == "false"
    cid = d.docker("run", "-d", "busybox", "sleep", "600").stdout.strip()
    assert cid, "run -d failed"
    d.restart()
    state = json.loads(d.docker("inspect", cid).stdout)[0]["State"]
    assert state["Running"] is False and state["ExitCode"] == 137


def test_network_settings_of_the_daemon(make_wharfd):
    d = make_wharfd(extra_args=["--mtu", "1400", "--ip", "127.0.0.1", "--ip-masq=false",
                                "--default-address-pool", "base=10.231.0.0/16,size=24"])
    options = json.loads(d.docker("network", "inspect", "bridge").stdout)[0]["Options"]
    assert options["com.docker.network.driver.mtu"] == "1400"
    assert options["com.docker.network.bridge.host_binding_ipv4"] == "127.0.0.1"
    assert options["com.docker.network.bridge.enable_ip_masquerade"] == "false"
    assert _info(d, "{{json .DefaultAddressPools}}") == '[{"Base":"10.231.0.0/16","Size":24}]'
    r = d.docker("run", "--rm", "busybox", "cat", "/sys/class/net/eth0/mtu")
    assert r.stdout.strip() == "1400", r.stderr
    cid = d.docker("run", "-d", "-p", "80", "busybox", "sleep", "600").stdout.strip()
    port = d.docker("port", cid, "80").stdout.split()
    assert port and port[0].startswith("127.0.0.1:"), port
    table = subprocess.run(["nft", "list", "table", "ip", d.firewall_table], capture_output=True,
                           text=True, check=True).stdout
    subnet = d.bip.rsplit(".", 1)[0] + ".0/24"
    assert f"ip saddr {subnet} oifname != \"{d.bridge}\" masquerade" not in table
    assert "dnat to" in table  # the rest of the table is there
    r = d.docker("network", "create", "pooled")
    assert r.returncode == 0, r.stderr
    subnet = json.loads(d.docker("network", "inspect", "pooled").stdout)[0]["IPAM"]["Config"][0]
    assert subnet["Subnet"].startswith("10.231.") and subnet["Subnet"].endswith("/24")
    d.docker("rm", "-f", cid)
    d.docker("network", "rm", "pooled")


def test_without_iptables_no_rules_are_written(make_wharfd):
    d = make_wharfd(extra_args=["--iptables=false", "--group", "daemon"])
    assert os.stat(d.socket).st_gid == grp.getgrnam("daemon").gr_gid  # --group
    cid = d.docker("run", "-d", "-p", "127.0.0.1::80", "busybox", "sleep", "600").stdout.strip()
    assert d.docker("port", cid, "80").stdout.startswith("127.0.0.1:")
    r = subprocess.run(["nft", "list", "table", "ip", d.firewall_table], capture_output=True)
    assert r.returncode != 0  # no table of this daemon's
    d.docker("rm", "-f", cid)


def test_the_systemd_units_verify_and_socket_activation_serves(tmp_path):
    units = Path(__file__).resolve().parents[2] / "contrib" / "systemd"
    if shutil.which("systemd-analyze"):
        service = (units / "wharf.service").read_text()
        (tmp_path / "wharf.service").write_text(
            service.replace("/usr/local/bin/wharfd", str(BIN / "wharfd")))
        shutil.copy(units / "wharf.socket", tmp_path)
        r = subprocess.run(["systemd-analyze", "verify", "./wharf.socket", "./wharf.service"],
                           cwd=tmp_path, capture_output=True, text=True, timeout=60)
        assert r.returncode == 0 and not r.stderr.strip(), r.stderr
    if not shutil.which("systemd-socket-activate"):
        pytest.skip("no systemd-socket-activate")
    d = Daemon(daemon_json={"hosts": ["fd://"]})
    d.prefix = ["systemd-socket-activate", "-l", str(d.socket)]  # as wharf.socket passes it
    try:
        d.start()
        assert _info(d, "{{.DockerRootDir}}") == str(d.data_root)
    finally:
        left = d.shutdown()
    assert not left, left


def test_without_userland_proxy_published_ports_go_by_dnat_alone(make_wharfd):
    d = make_wharfd(extra_args=["--userland-proxy=false"])
    cid = d.docker("run", "-d", "-p", "127.0.0.1::80", "busybox", "sh", "-c",
                   "echo hello | nc -l -p 80").stdout.strip()
    port = int(d.docker("port", cid, "80").stdout.split(":")[-1])
    listening = subprocess.run(["ss", "-Hltn", f"sport = :{port}"], capture_output=True,
                               text=True, check=True).stdout
    assert listening.strip() == ""  # reserved (bound), but no proxy listens

    def greeted() -> bool:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
                return s.recv(64) == b"hello\n"
        except OSError:  # refused or reset: not listening yet
            return False
    assert eventually(greeted, timeout=30, interval=0.05)  # once the container's nc listens
    d.docker("rm", "-f", cid)


def test_bridge_none_means_no_default_bridge(make_wharfd):
    d = make_wharfd(extra_args=["--bridge", "none"])
    names = d.docker("network", "ls", "--format", "{{.Name}}").stdout.split()
    assert "bridge" not in names and {"host", "none"} <= set(names)
    r = d.docker("run", "--rm", "busybox", "ls", "/sys/class/net")
    assert r.returncode == 0 and r.stdout.split() == ["lo"], r.stderr  # as --network none
    d.restart()  # and the record of an earlier default bridge goes
    assert "bridge" not in d.docker("network", "ls", "--format", "{{.Name}}").stdout.split()
