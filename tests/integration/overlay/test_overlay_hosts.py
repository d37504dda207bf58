"""Overlay networks across three wharfd hosts (network namespaces) sharing one etcd."""

from __future__ import annotations

import json

from overlaylab import sh
from support.commands import ok
from support.polling import eventually

#: The lease TTL of the cluster store, plus slack for the watch.
LEASE_WAIT = 20


def run(host, name: str, network: str) -> str:
    return ok(host.wharf("run", "-d", "--name", name, "--network", network, "busybox", "sleep", "600")).strip()


def ip_of(host, name: str, network: str) -> str:
    status, c = host.api("GET", f"/containers/{name}/json")
    assert status == 200, c
    return c["NetworkSettings"]["Networks"][network]["IPAddress"]


def pings(host, name: str, target: str, count: int = 1) -> bool:
    return host.wharf("exec", name, "ping", "-c", str(count), "-W", "2", target).returncode == 0


def inspect(host, network: str) -> dict:
    return json.loads(ok(host.wharf("network", "inspect", network)))[0]


def transfer(src_host, src: str, dst_host, dst: str) -> None:
    """100 kB from ``src`` to ``dst`` by name through busybox nc; checksums must match.

    The listener's stdin stays open: busybox nc stops reading the network at EOF on stdin."""
    r = dst_host.wharf("exec", "-d", dst, "sh", "-c", "sleep 60 | nc -l -p 7000 > /tmp/in")
    assert r.returncode == 0, r.stderr
    r = src_host.wharf("exec", src, "sh", "-c", "head -c 100000 /dev/urandom > /tmp/out && "
                       "for i in 1 2 3 4 5; do nc " + dst + " 7000 < /tmp/out && exit 0; "
                       "sleep 0.3; done; exit 1")
    assert r.returncode == 0, r.stderr
    sent = src_host.wharf("exec", src, "md5sum", "/tmp/out").stdout.split()[0]
    got = lambda: dst_host.wharf("exec", dst, "md5sum", "/tmp/in").stdout.split()[:1]  # noqa: E731
    assert eventually(lambda: got() == [sent]), dst_host.wharf("exec", dst, "ls", "-l", "/tmp")


def test_overlay_spans_hosts(overlay_cluster) -> None:
    a, b, c = overlay_cluster.hosts
    r = a.wharf("network", "create", "-d", "overlay", "ov1")
    assert r.returncode == 0, r.stderr
    assert b.wharf("network", "create", "-d", "overlay", "ov2").returncode == 0
    # visible everywhere, one VNI each
    for host in (a, b, c):
        assert eventually(lambda: {"ov1", "ov2"} <= set(
            host.wharf("network", "ls", "--format", "{{.Name}}").stdout.split()))
    vnis = {inspect(c, n)["Options"]["com.docker.network.driver.overlay.vxlanid_list"]
            for n in ("ov1", "ov2")}
    assert len(vnis) == 2
    assert inspect(c, "ov1")["Scope"] == "global"

    run(a, "ca", "ov1")
    run(b, "cb", "ov1")
    run(c, "cc", "ov2")
    ips = {ip_of(a, "ca", "ov1"), ip_of(b, "cb", "ov1")}
    assert len(ips) == 2  # global IPAM: never the same address on two hosts

    # the data path: VXLAN with MTU 1450, FDB entries pointing at the other host
    vni = inspect(a, "ov1")["Options"]["com.docker.network.driver.overlay.vxlanid_list"]
    link = sh("ip", "-n", a.ns, "-d", "link", "show", f"wvx{vni}").stdout
    assert f"vxlan id {vni}" in link and "dstport 4789" in link and "nolearning" in link
    assert "mtu 1450" in a.wharf("exec", "ca", "ip", "link", "show", "eth0").stdout

    # ping and names both ways, TCP both ways
    assert eventually(lambda: pings(a, "ca", "cb"))
    assert eventually(lambda: pings(b, "cb", "ca"))
    transfer(a, "ca", b, "cb")
    transfer(b, "cb", a, "ca")

    # inspect: peers are both hosts, containers only the local one
    net = inspect(a, "ov1")
    assert [p["IP"] for p in net["Peers"]] == sorted([a.address, b.address])
    assert [e["Name"] for e in net["Containers"].values()] == ["ca"]

    # another overlay cannot reach them, by address or by name
    assert not pings(c, "cc", ip_of(b, "cb", "ov1"))
    assert c.wharf("exec", "cc", "nslookup", "cb", "127.0.0.11").returncode != 0


def test_host_death_and_return(overlay_cluster) -> None:
    a, b, _ = overlay_cluster.hosts
    r = a.wharf("network", "create", "-d", "overlay", "ov")
    assert r.returncode == 0, r.stderr
    run(a, "ca", "ov")
    run(b, "cb", "ov")
    assert eventually(lambda: pings(a, "ca", "cb"))

    b.stop(kill=True)  # kill -9: the lease expires, its endpoints go everywhere
    assert eventually(lambda: [p["IP"] for p in inspect(a, "ov")["Peers"]] == [a.address],
                      LEASE_WAIT)
    assert a.wharf("exec", "ca", "nslookup", "cb", "127.0.0.11").returncode != 0

    b.start()  # its container kept running; it is published again
    assert eventually(lambda: pings(a, "ca", "cb"), LEASE_WAIT)
    assert len(inspect(a, "ov")["Peers"]) == 2

    b.stop()  # a clean stop leaves at once
    assert eventually(lambda: len(inspect(a, "ov")["Peers"]) == 1, 5)
    b.start()
    assert eventually(lambda: pings(b, "cb", "ca"), LEASE_WAIT)


def test_store_outage(overlay_cluster) -> None:
    a, b, _ = overlay_cluster.hosts
    etcd = overlay_cluster.etcd
    r = a.wharf("network", "create", "-d", "overlay", "ov")
    assert r.returncode == 0, r.stderr
    run(a, "ca", "ov")
    run(b, "cb", "ov")
    run(a, "cx", "ov")
    assert eventually(lambda: pings(a, "ca", "cb"))

    etcd.stop()
    assert a.wharf("rm", "-f", "cx").returncode == 0  # withdrawn when the store is back
    assert pings(a, "ca", "cb", count=3)  # the kernel keeps forwarding
    r = b.wharf("network", "create", "-d", "overlay", "ov-down")
    assert r.returncode != 0 and "cluster store" in r.stderr
    r = a.wharf("run", "-d", "--network", "ov", "busybox", "sleep", "60")
    assert r.returncode != 0 and "cluster store" in r.stderr

    etcd.start()
    assert eventually(
        lambda: b.wharf("network", "create", "-d", "overlay", "ov-up").returncode == 0, 15)
    assert eventually(lambda: "ov-up" in a.wharf("network", "ls").stdout)
    assert pings(b, "cb", "ca")
    net_id = inspect(a, "ov")["Id"]

    def reconciled() -> bool:  # no duplicates, nothing of cx: ca, cb and the gateway
        keys = etcd.keys()
        return (len([k for k in keys if f"/endpoints/{net_id}/" in k]) == 2
                and len([k for k in keys if f"/ipam/{net_id}/" in k]) == 3)
    assert eventually(reconciled, 15), etcd.keys()
