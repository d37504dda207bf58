"""Networks end to end: containers started by wharfd exchange real packets.

Every address a test talks to is one it made: its networks (random /24s of
the lab's range), the daemon's private default bridge, and the lab's
namespaces ("outside" and client namespaces on their own veth /30s).
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import threading
import time
from ipaddress import ip_address
from typing import Iterator

import pytest

from netlab import Lab, Listener
from wharf.network import netns
from wharf.network.dns import DnsServer

HTTPD = ["httpd", "-f", "-p", "80", "-h", "/etc"]


class Made:
    """Containers and networks a test created, removed at its end (leaks are failures)."""

    def __init__(self, daemon, lab: Lab) -> None:
        self.d, self.lab = daemon, lab
        self.containers: list[str] = []
        self.networks: list[str] = []

    def network(self, *flags: str) -> tuple[str, str]:
        name, subnet = self.lab.name("net"), str(self.lab.subnet())
        r = self.d.wharf("network", "create", "--subnet", subnet, *flags, name)
        assert r.returncode == 0, r.stderr
        self.networks.append(name)
        return name, subnet

    def run(self, *args: str) -> str:
        name = self.lab.name("c")
        r = self.d.wharf("run", "-d", "--name", name, *args)
        assert r.returncode == 0, r.stderr
        self.containers.append(name)
        return name

    def inspect(self, name: str) -> dict:
        return json.loads(self.d.wharf("inspect", name, check=True).stdout)[0]

    def ip(self, name: str, network: str) -> str:
        return self.inspect(name)["NetworkSettings"]["Networks"][network]["IPAddress"]

    def cleanup(self) -> None:
        for name in self.containers:
            self.d.wharf("rm", "-f", name)
        for name in self.networks:
            r = self.d.wharf("network", "rm", name)
            assert r.returncode == 0, r.stderr


@pytest.fixture
def made(wharfd, lab: Lab) -> Iterator[Made]:
    m = Made(wharfd, lab)
    try:
        yield m
    finally:
        m.cleanup()


def http_get(ns: str | None, host: str, port: int, path: str = "/hostname") -> str:
    """One HTTP/1.0 GET from the host (``ns`` None) or from a namespace; the body."""
    def connect() -> socket.socket:
        return socket.create_connection((host, port), timeout=3)
    sock = connect() if ns is None else netns.call_in(ns, connect)
    with sock:
        sock.sendall(f"GET {path} HTTP/1.0\r\n\r\n".encode())
        data = b""
        while chunk := sock.recv(4096):
            data += chunk
    return data.decode(errors="replace").partition("\r\n\r\n")[2]


def answers(ns: str | None, host: str, port: int) -> bool:
    try:
        http_get(ns, host, port)
        return True
    except OSError:
        return False


def nc_get(d, network: str, target: str, busybox: str) -> subprocess.CompletedProcess[str]:
    """A client container on ``network`` asks ``target``'s httpd for /hostname."""
    script = f"printf 'GET /hostname HTTP/1.0\\r\\n\\r\\n' | nc -w 3 {target} 80"
    return d.wharf("run", "--rm", "--network", network, busybox, "sh", "-c", script)


def wait_listening(d, name: str) -> None:
    """httpd is up once its container can answer itself."""
    for _ in range(50):
        if d.wharf("exec", name, "sh", "-c", "netstat -ltn | grep -q ':80 '").returncode == 0:
            return
        time.sleep(0.1)
    raise AssertionError(f"{name}: httpd never listened")


def test_names_resolve_on_a_user_network_and_other_networks_are_cut_off(wharfd, busybox, made):
    net_a, _ = made.network()
    net_b, _ = made.network()
    srv = made.run("--network", net_a, "--network-alias", "web", busybox, *HTTPD)
    wait_listening(wharfd, srv)
    srv_id = made.inspect(srv)["Id"][:12]
    renamed = made.lab.name("c")
    assert wharfd.wharf("rename", srv, renamed).returncode == 0
    made.containers.append(renamed)
    for target in (renamed, "web", srv_id):
        r = nc_get(wharfd, net_a, target, busybox)
        assert r.returncode == 0 and r.stdout.strip().endswith(srv_id), (target, r.stderr)
    # The other network neither resolves the name nor reaches the address.
    assert srv_id not in nc_get(wharfd, net_b, renamed, busybox).stdout
    assert srv_id not in nc_get(wharfd, net_b, made.ip(renamed, net_a), busybox).stdout


def test_published_ports_answer_on_the_addresses_they_name(wharfd, busybox, made, lab: Lab):
    srv = made.run("-p", "127.0.0.1::80", "-p", "80", busybox, *HTTPD)
    wait_listening(wharfd, srv)
    bound = made.inspect(srv)["NetworkSettings"]["Ports"]["80/tcp"]
    local = int(next(b["HostPort"] for b in bound if b["HostIp"] == "127.0.0.1"))
    anywhere = int(next(b["HostPort"] for b in bound if b["HostIp"] == "0.0.0.0"))
    hostname = made.inspect(srv)["Config"]["Hostname"]
    assert http_get(None, "127.0.0.1", local).strip() == hostname
    assert http_get(None, "127.0.0.1", anywhere).strip() == hostname
    client = lab.outside()  # a namespace that reaches the host at client.host_ip
    assert http_get(client.ns, str(client.host_ip), anywhere).strip() == hostname
    assert not answers(client.ns, str(client.host_ip), local)
    # Hairpin: the container reaches its own published port through the host.
    gateway = wharfd.bip.split("/")[0]
    script = f"printf 'GET /hostname HTTP/1.0\\r\\n\\r\\n' | nc -w 3 {gateway} {anywhere}"
    assert wharfd.wharf("exec", srv, "sh", "-c", script).stdout.strip().endswith(hostname)
    ports = wharfd.wharf("port", srv).stdout.splitlines()
    assert f"80/tcp -> 127.0.0.1:{local}" in ports and f"80/tcp -> 0.0.0.0:{anywhere}" in ports
    assert f"0.0.0.0:{anywhere}->80/tcp" in wharfd.wharf("ps", "--filter", f"name={srv}").stdout


def test_a_taken_host_port_is_refused_with_dockers_words(wharfd, busybox, made):
    srv = made.run("-p", "127.0.0.1::80", busybox, *HTTPD)
    port = made.inspect(srv)["NetworkSettings"]["Ports"]["80/tcp"][0]["HostPort"]
    name = made.lab.name("c")
    made.containers.append(name)
    r = wharfd.wharf("run", "-d", "--name", name, "-p", f"127.0.0.1:{port}:80", busybox, *HTTPD)
    assert r.returncode == 125
    assert f"Bind for 127.0.0.1:{port} failed: port is already allocated" in r.stderr


def test_egress_is_masqueraded_and_internal_networks_have_no_way_out(wharfd, busybox, made,
                                                                     lab: Lab):
    outside = lab.outside()
    listener = Listener(outside.ns, outside.ip)
    try:
        net, _ = made.network()
        internal, _ = made.network("--internal")
        ask = f"nc -w 3 {outside.ip} {listener.port} </dev/null"
        r = wharfd.wharf("run", "--rm", "--network", net, busybox, "sh", "-c", ask)
        assert r.stdout.strip() == str(outside.host_ip), r.stderr
        r = wharfd.wharf("run", "--rm", "--network", internal, busybox, "sh", "-c",
                         f"ip route; {ask}")
        assert "default" not in r.stdout and str(outside.host_ip) not in r.stdout
    finally:
        listener.close()


def test_host_and_none_networking(wharfd, busybox):
    host = wharfd.wharf("run", "--rm", "--network", "host", busybox, "ip", "-o", "link")
    assert f": {wharfd.bridge}:" in host.stdout
    none = wharfd.wharf("run", "--rm", "--network", "none", busybox, "ip", "-o", "link")
    assert [line.split(":")[1].strip() for line in none.stdout.splitlines()] == ["lo"]


def test_rm_and_disconnect_return_everything(wharfd, busybox, made):
    net, subnet = made.network()
    first = made.run("--network", net, busybox, "sleep", "60")
    other = made.run(busybox, "sleep", "60")
    ip = made.ip(first, net)
    bridge = "br-" + json.loads(wharfd.wharf("network", "inspect", net).stdout)[0]["Id"][:12]
    assert wharfd.wharf("network", "connect", net, other).returncode == 0
    assert len(_ports_of(bridge)) == 2
    assert wharfd.wharf("exec", other, "ping", "-c1", "-W2", ip).returncode == 0
    assert wharfd.wharf("network", "disconnect", net, other).returncode == 0
    assert wharfd.wharf("exec", other, "ping", "-c1", "-W1", ip).returncode != 0
    assert wharfd.wharf("rm", "-f", first).returncode == 0
    assert _ports_of(bridge) == []
    assert json.loads(wharfd.wharf("network", "inspect", net).stdout)[0]["Containers"] == {}
    again = made.run("--network", net, busybox, "sleep", "60")
    assert made.ip(again, net) == ip  # the lease came back
    r = wharfd.wharf("network", "rm", net)
    assert r.returncode == 1 and "has active endpoints" in r.stderr


def _ports_of(bridge: str) -> list[str]:
    out = subprocess.run(["ip", "-o", "link", "show", "master", bridge], capture_output=True,
                         text=True).stdout
    return [line.split(":")[1].strip().split("@")[0] for line in out.splitlines()]


def test_restart_and_kill_9_keep_or_clean_up_network_state(make_wharfd, lab: Lab):
    d = make_wharfd()
    m = Made(d, lab)
    try:
        net, _ = m.network()
        srv = m.run("--network", net, "-p", "127.0.0.1::80", "busybox", *HTTPD)
        wait_listening(d, srv)
        port = int(m.inspect(srv)["NetworkSettings"]["Ports"]["80/tcp"][0]["HostPort"])
        hostname = m.inspect(srv)["Config"]["Hostname"]
        d.restart()
        assert http_get(None, "127.0.0.1", port).strip() == hostname  # proxy and DNAT again
        assert nc_get(d, net, srv, "busybox").stdout.strip().endswith(hostname)
        ip, pid = m.ip(srv, net), m.inspect(srv)["State"]["Pid"]
        d.stop(kill=True)
        os.kill(pid, signal.SIGKILL)  # the container dies while nobody watches
        time.sleep(0.5)
        d.start()
        bridge = "br-" + json.loads(d.wharf("network", "inspect", net).stdout)[0]["Id"][:12]
        assert _ports_of(bridge) == []
        assert not answers(None, "127.0.0.1", port)
        again = m.run("--network", net, "busybox", "sleep", "60")
        assert m.ip(again, net) == ip
    finally:
        m.cleanup()


def test_endpoints_and_leases_come_back_from_the_container_records(make_wharfd, lab: Lab):
    """A start or an exit writes no network file: after a kill -9 the running
    containers' records give the network its endpoints and leases back."""
    d = make_wharfd()
    m = Made(d, lab)
    try:
        net, _ = m.network()
        first = m.run("--network", net, "--network-alias", "db", "busybox", "sleep", "600")
        ip = m.ip(first, net)
        d.restart(kill=True)
        listed = json.loads(d.wharf("network", "inspect", net).stdout)[0]["Containers"]
        assert [e["IPv4Address"].split("/")[0] for e in listed.values()] == [ip]
        second = m.run("--network", net, "busybox", "sleep", "600")
        assert m.ip(second, net) != ip  # the lease held across the restart
        r = d.wharf("exec", second, "ping", "-c", "1", "-W", "2", "db")
        assert r.returncode == 0 and ip in r.stdout, r.stdout + r.stderr  # its alias too
        r = d.wharf("network", "rm", net)
        assert r.returncode == 1 and "has active endpoints" in r.stderr
    finally:
        m.cleanup()


def test_links_add_host_and_ps_filter_on_the_default_bridge(wharfd, busybox, made):
    srv = made.run(busybox, *HTTPD)
    wait_listening(wharfd, srv)
    ip = made.ip(srv, "bridge")
    gateway = wharfd.bip.split("/")[0]
    r = wharfd.wharf("run", "--rm", "--link", f"{srv}:web", "--add-host", "gw:host-gateway",
                     busybox, "sh", "-c", "cat /etc/hosts; printf 'GET /hostname HTTP/1.0\\r\\n"
                     "\\r\\n' | nc -w 3 web 80")
    assert f"{ip}\tweb" in r.stdout and f"{gateway}\tgw" in r.stdout
    assert r.stdout.strip().endswith(made.inspect(srv)["Config"]["Hostname"])
    net, _ = made.network()
    assert srv in wharfd.wharf("ps", "--filter", "network=bridge", "--format", "{{.Names}}").stdout
    assert srv not in wharfd.wharf("ps", "--filter", f"network={net}",
                                   "--format", "{{.Names}}").stdout


def test_dns_forwards_other_names_and_answers_links(wharfd, busybox, made, lab: Lab):
    """Names not ours go to the container's --dns server (a test-made one on the outside)."""
    outside = lab.outside()
    loop = asyncio.new_event_loop()
    upstream = DnsServer(
        lambda name: [ip_address("10.1.2.3")] if name.rstrip(".") == "far.test" else [], [])
    loop.run_until_complete(upstream.start(target=outside.ns, address=str(outside.ip)))
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    try:
        net, _ = made.network()
        srv = made.run("--network", net, busybox, "sleep", "60")
        r = wharfd.wharf("run", "--rm", "--network", net, "--dns", str(outside.ip),
                         "--link", f"{srv}:buddy", busybox, "sh", "-c",
                         "nslookup far.test; nslookup buddy")
        assert "10.1.2.3" in r.stdout, r.stdout + r.stderr
        assert made.ip(srv, net) in r.stdout
    finally:
        loop.call_soon_threadsafe(upstream.close)
        loop.call_soon_threadsafe(loop.stop)
        thread.join()
        loop.close()


def test_publish_all_and_host_port_ranges(wharfd, busybox, made):
    srv = made.run("--expose", "80", "-P", busybox, *HTTPD)
    wait_listening(wharfd, srv)
    (binding,) = made.inspect(srv)["NetworkSettings"]["Ports"]["80/tcp"]
    hostname = made.inspect(srv)["Config"]["Hostname"]
    assert http_get(None, "127.0.0.1", int(binding["HostPort"])).strip() == hostname
    with socket.socket() as taken:  # the first port of the range is busy
        taken.bind(("127.0.0.1", 0))
        first = taken.getsockname()[1]
        other = made.run("-p", f"127.0.0.1:{first}-{first + 5}:80", busybox, *HTTPD)
        (bound,) = made.inspect(other)["NetworkSettings"]["Ports"]["80/tcp"]
    assert first < int(bound["HostPort"]) <= first + 5
