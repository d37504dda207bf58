"""The real docker CLI drives wharfd's networks: ls, inspect bridge, create/connect/disconnect/rm,
run -p and port."""

from __future__ import annotations

import ipaddress
import json
import secrets
import socket
import time


def _free_subnet() -> str:
    return f"10.{150 + secrets.randbelow(40)}.{secrets.randbelow(256)}.0/24"


def test_network_ls_and_inspect_bridge(wharfd):
    r = wharfd.docker("network", "ls")
    assert r.returncode == 0, r.stderr
    rows = [line.split() for line in r.stdout.splitlines()]
    assert rows[0] == ["NETWORK", "ID", "NAME", "DRIVER", "SCOPE"]
    assert {(row[1], row[2]) for row in rows[1:]} >= {("bridge", "bridge"), ("host", "host"),
                                                     ("none", "null")}
    bridge = json.loads(wharfd.docker("network", "inspect", "bridge", check=True).stdout)[0]
    assert bridge["Driver"] == "bridge" and bridge["Scope"] == "local"
    assert bridge["Options"]["com.docker.network.bridge.name"] == wharfd.bridge
    subnet = ipaddress.ip_network(wharfd.bip, strict=False)
    assert bridge["IPAM"]["Config"] == [{"Subnet": str(subnet),
                                         "Gateway": wharfd.bip.split("/")[0]}]
    assert wharfd.docker("network", "ls", "-q", "--filter", "name=none").stdout.strip() \
        == bridge_id(wharfd, "none")[:12]


def bridge_id(wharfd, name: str) -> str:
    return json.loads(wharfd.docker("network", "inspect", name, check=True).stdout)[0]["Id"]


def test_create_connect_disconnect_rm(wharfd, busybox):
    name, subnet = f"wt-dnet-{secrets.token_hex(3)}", _free_subnet()
    box = f"wt-dbox-{secrets.token_hex(3)}"
    try:
        r = wharfd.docker("network", "create", "--subnet", subnet, "--label", "a=b", name)
        assert r.returncode == 0, r.stderr
        assert wharfd.docker("run", "-d", "--name", box, busybox, "sleep", "60").returncode == 0
        gateway = str(ipaddress.ip_network(subnet).network_address + 1)
        wanted = str(ipaddress.ip_network(subnet).network_address + 9)
        r = wharfd.docker("network", "connect", "--ip", wanted, "--alias", "nine", name, box)
        assert r.returncode == 0, r.stderr
        net = json.loads(wharfd.docker("network", "inspect", name).stdout)[0]
        (endpoint,) = net["Containers"].values()
        assert endpoint["Name"] == box and endpoint["IPv4Address"] == f"{wanted}/24"
        assert net["Labels"] == {"a": "b"}
        out = wharfd.docker("exec", box, "ip", "-o", "-4", "addr").stdout
        assert f"inet {wanted}/24" in out
        assert wharfd.docker("exec", box, "ping", "-c1", "-W2", gateway).returncode == 0
        r = wharfd.docker("network", "rm", name)
        assert r.returncode != 0 and "active endpoints" in r.stderr
        assert wharfd.docker("network", "disconnect", name, box).returncode == 0
        assert f"inet {wanted}/" not in wharfd.docker("exec", box, "ip", "-o", "-4", "addr").stdout
    finally:
        wharfd.docker("rm", "-f", box)
        r = wharfd.docker("network", "rm", name)
    assert r.returncode == 0, r.stderr
    assert name not in wharfd.docker("network", "ls").stdout


def test_run_publish_and_port(wharfd, busybox):
    box = f"wt-dweb-{secrets.token_hex(3)}"
    try:
        r = wharfd.docker("run", "-d", "--name", box, "-p", "127.0.0.1::80", busybox,
                          "httpd", "-f", "-p", "80", "-h", "/etc")
        assert r.returncode == 0, r.stderr
        line = wharfd.docker("port", box, "80").stdout.strip()
        host, _, port = line.rpartition(":")
        assert host == "127.0.0.1"
        assert wharfd.docker("port", box).stdout.strip() == f"80/tcp -> {line}"
        body = b""
        for _ in range(50):
            try:
                with socket.create_connection(("127.0.0.1", int(port)), timeout=3) as s:
                    s.sendall(b"GET /hostname HTTP/1.0\r\n\r\n")
                    while chunk := s.recv(4096):
                        body += chunk
                break
            except OSError:
                time.sleep(0.1)
        assert body.endswith(f"{box_hostname(wharfd, box)}\n".encode())
        assert f"127.0.0.1:{port}->80/tcp" in wharfd.docker("ps", "--filter", f"name={box}").stdout
    finally:
        wharfd.docker("rm", "-f", box)


def box_hostname(wharfd, box: str) -> str:
    return json.loads(wharfd.docker("inspect", box).stdout)[0]["Config"]["Hostname"]


def test_prune_removes_only_unused_custom_networks(wharfd, busybox):
    unused, used = (f"wt-dprune-{secrets.token_hex(3)}" for _ in range(2))
    box = f"wt-dpbox-{secrets.token_hex(3)}"
    try:
        for name in (unused, used):
            assert wharfd.docker("network", "create", "--subnet", _free_subnet(),
                                 name).returncode == 0
        assert wharfd.docker("run", "-d", "--name", box, "--network", used, busybox,
                             "sleep", "60").returncode == 0
        r = wharfd.docker("network", "prune", "-f")
        assert r.returncode == 0 and unused in r.stdout and used not in r.stdout
        names = wharfd.docker("network", "ls", "--format", "{{.Name}}").stdout.split()
        assert used in names and unused not in names and "bridge" in names
    finally:
        wharfd.docker("rm", "-f", box)
        wharfd.docker("network", "rm", used)
        wharfd.docker("network", "rm", unused)
