"""IPv6 networks (``--ipv6``, ``--subnet`` v6, ``--ip6``) and the network create body's
checks, through the real docker CLI and the API: what the container's kernel shows, what
inspect says, what the firewall holds, what dockerd refuses."""

from __future__ import annotations

import ipaddress
import json
import secrets
import subprocess

from support.daemon import Daemon


def _subnet6() -> ipaddress.IPv6Network:
    """A random ULA /64: sibling test daemons share the host's routing table."""
    return ipaddress.ip_network(f"fd{secrets.token_hex(1)}:{secrets.token_hex(2)}:{secrets.token_hex(2)}::/64")


def _inspect(d: Daemon, *args: str) -> dict:
    return json.loads(d.docker(*args, check=True).stdout)[0]


def test_ipv6_network_gives_containers_addresses_and_routes(wharfd: Daemon, busybox: str) -> None:
    subnet = _subnet6()
    gateway, fixed = subnet[1], subnet[0xF00D]
    name, box = f"wt-v6-{secrets.token_hex(3)}", f"wt-v6box-{secrets.token_hex(3)}"
    try:
        r = wharfd.docker("network", "create", "--ipv6", "--subnet", str(subnet), name)
        assert r.returncode == 0, r.stderr
        net = _inspect(wharfd, "network", "inspect", name)
        assert net["EnableIPv6"] is True
        # the v6 entry as given (dockerd shows no gateway it was not given), and an automatic
        # IPv4 pool with its gateway
        v4, v6 = net["IPAM"]["Config"]
        assert v6 == {"Subnet": str(subnet)} and set(v4) == {"Subnet", "Gateway"}
        r = wharfd.docker("run", "-d", "--name", box, "--network", name, "--ip6", str(fixed),
                          busybox, "sleep", "60")
        assert r.returncode == 0, r.stderr
        ep = _inspect(wharfd, "inspect", box)["NetworkSettings"]["Networks"][name]
        assert (ep["IPAMConfig"]["IPv6Address"], ep["GlobalIPv6Address"], ep["GlobalIPv6PrefixLen"],
                ep["IPv6Gateway"]) == (str(fixed), str(fixed), 64, str(gateway))
        (entry,) = _inspect(wharfd, "network", "inspect", name)["Containers"].values()
        assert entry["IPv6Address"] == f"{fixed}/64"
        # a second container: the next free address, its interface, its default route, and
        # IPv6 traffic to the gateway and to the first container
        script = (f"ip -o -6 addr show dev eth0 scope global; ip -6 route show default; "
                  f"nslookup -type=aaaa {box}; cat /etc/hosts; "
                  f"ping -6 -c1 -W5 {gateway} >/dev/null && ping -6 -c1 -W5 {fixed} >/dev/null && echo reached")
        r = wharfd.docker("run", "--rm", "--network", name, busybox, "sh", "-c", script)
        assert r.returncode == 0, r.stdout + r.stderr
        assert f"inet6 {subnet[2]}/64 scope global" in r.stdout
        assert f"default via {gateway} dev eth0" in r.stdout
        assert f"Address: {fixed}" in r.stdout  # the embedded DNS answers AAAA
        assert f"\n{subnet[2]}\t" in r.stdout  # its own IPv6 address in /etc/hosts
        assert r.stdout.endswith("reached\n")
        # the IPv6 table holds the IPv4 table's rules for the subnet
        table = subprocess.run(["nft", "list", "table", "ip6", wharfd.firewall_table],
                               capture_output=True, text=True)
        assert f"ip6 saddr {subnet} oifname" in table.stdout and "masquerade" in table.stdout
    finally:
        wharfd.docker("rm", "-f", box)
        wharfd.docker("network", "rm", name)
    assert subprocess.run(["nft", "list", "table", "ip6", wharfd.firewall_table],
                          capture_output=True).returncode != 0, "no IPv6 network: no ip6 table"


def test_ipv6_refusals_in_dockerd_words(wharfd: Daemon, busybox: str) -> None:
    name = f"wt-v4only-{secrets.token_hex(3)}"
    r = wharfd.docker("network", "create", "--ipv6", name)
    assert r.returncode != 0
    assert "could not find an available, non-overlapping IPv6 address pool among the defaults " \
        "to assign to the network" in r.stderr
    try:
        assert wharfd.docker("network", "create", name).returncode == 0
        assert _inspect(wharfd, "network", "inspect", name)["EnableIPv6"] is False
        r = wharfd.docker("run", "--rm", "--network", name, "--ip6", "fd00::5", busybox, "true")
        assert r.returncode != 0 and "IPv6" in r.stderr
    finally:
        wharfd.docker("network", "rm", name)


def test_create_body_types_ipam_options_and_aux_addresses(wharfd: Daemon, busybox: str) -> None:
    """A wrongly typed field is a 400 in Go's words; IPAM Options stay as sent (null when
    not sent); auxiliary addresses are shown and never given to a container."""
    status, body = wharfd.api("POST", "/networks/create", body={"Name": "wt-bad", "Labels": ["a=b"]})
    assert (status, body["message"]) == (400, "json: cannot unmarshal array into Go struct field "
                                              "NetworkCreateRequest.Labels of type map")
    status, body = wharfd.api("POST", "/networks/create", body={"Name": "wt-bad", "Internal": "yes"})
    assert status == 400 and "NetworkCreateRequest.Internal of type bool" in body["message"]
    name = f"wt-aux-{secrets.token_hex(3)}"
    config = {"Subnet": "10.231.7.0/29", "Gateway": "10.231.7.1",
              "AuxiliaryAddresses": {"router": "10.231.7.2"}}
    status, body = wharfd.api("POST", "/networks/create",
                              body={"Name": name, "IPAM": {"Driver": "default", "Config": [config]}})
    assert status == 201, body
    try:
        ipam = _inspect(wharfd, "network", "inspect", name)["IPAM"]
        assert ipam == {"Driver": "default", "Options": None, "Config": [config]}
        r = wharfd.docker("run", "--rm", "--network", name, busybox, "ip", "-o", "-4", "addr", "show", "eth0")
        assert "inet 10.231.7.3/29" in r.stdout, r.stdout + r.stderr
    finally:
        wharfd.docker("network", "rm", name)


def test_wharf_cli_ipv6_flags(wharfd: Daemon, busybox: str) -> None:
    """``wharf network create --ipv6 --aux-address --ipam-opt``, ``run --ip6``, ``network connect --ip6``."""
    subnet = _subnet6()
    name, box = f"wt-v6cli-{secrets.token_hex(3)}", f"wt-v6clibox-{secrets.token_hex(3)}"
    try:
        r = wharfd.wharf("network", "create", "--ipv6", "--subnet", "10.232.9.0/24", "--subnet", str(subnet),
                         "--aux-address", f"router={subnet[2]}", "--ipam-opt", "a=b", name)
        assert r.returncode == 0, r.stderr
        ipam = _inspect(wharfd, "network", "inspect", name)["IPAM"]
        assert ipam["Options"] == {"a": "b"}
        assert ipam["Config"] == [{"Subnet": "10.232.9.0/24"},
                                  {"Subnet": str(subnet), "AuxiliaryAddresses": {"router": str(subnet[2])}}]
        r = wharfd.wharf("run", "-d", "--name", box, "--network", name, "--ip6", str(subnet[7]), busybox, "sleep", "60")
        assert r.returncode == 0, r.stderr
        assert _inspect(wharfd, "inspect", box)["NetworkSettings"]["Networks"][name]["GlobalIPv6Address"] == str(subnet[7])
        # the next container skips the aux address
        r = wharfd.wharf("run", "--rm", "--network", name, busybox, "ip", "-o", "-6", "addr", "show", "scope", "global")
        assert f"inet6 {subnet[3]}/64" in r.stdout, r.stdout + r.stderr
        r = wharfd.wharf("network", "create", "--subnet", "10.232.10.0/24", "--aux-address", "x=10.9.9.9", name + "x")
        assert r.returncode != 0 and "no matching subnet for aux-address 10.9.9.9" in r.stderr
    finally:
        wharfd.docker("rm", "-f", box)
        wharfd.docker("network", "rm", name)
    other = f"wt-v6conn-{secrets.token_hex(3)}"
    try:
        assert wharfd.wharf("network", "create", "--ipv6", "--subnet", str(subnet), other).returncode == 0
        assert wharfd.wharf("run", "-d", "--name", box, busybox, "sleep", "60").returncode == 0
        r = wharfd.wharf("network", "connect", "--ip6", str(subnet[9]), "--link-local-ip", "169.254.9.9",
                         other, box)
        assert r.returncode == 0, r.stderr
        out = wharfd.docker("exec", box, "ip", "-o", "addr").stdout
        assert f"inet6 {subnet[9]}/64" in out and "inet 169.254.9.9/16" in out
    finally:
        wharfd.docker("rm", "-f", box)
        wharfd.docker("network", "rm", other)


def test_link_local_ips_and_endpoint_address_checks(wharfd: Daemon, busybox: str) -> None:
    """``--link-local-ip`` addresses are on the container's interface (/16, /64 for IPv6) and
    in inspect; a malformed or wrong-family address is refused at create, in dockerd's words."""
    name = f"wt-ll-{secrets.token_hex(3)}"
    try:
        assert wharfd.docker("network", "create", name).returncode == 0
        r = wharfd.docker("run", "--rm", "--network", name, "--link-local-ip", "169.254.8.8",
                          "--link-local-ip", "fe80::8:8", busybox, "ip", "-o", "addr", "show", "eth0")
        assert r.returncode == 0, r.stderr
        assert "inet 169.254.8.8/16" in r.stdout and "inet6 fe80::8:8/64" in r.stdout
        for ipam, message in (({"IPv4Address": "300.1.1.1"}, "invalid IPv4 address: 300.1.1.1"),
                              ({"IPv6Address": "10.0.0.1"}, "invalid IPv6 address: 10.0.0.1"),
                              ({"LinkLocalIPs": ["baz"]}, "invalid link-local IP address: baz")):
            status, body = wharfd.api("POST", "/containers/create", body={
                "Image": busybox, "HostConfig": {"NetworkMode": name},
                "NetworkingConfig": {"EndpointsConfig": {name: {"IPAMConfig": ipam}}}})
            assert (status, body["message"]) == (400, message)
    finally:
        wharfd.docker("network", "rm", name)


def test_ipv6_survives_a_daemon_restart(make_wharfd) -> None:
    """After a restart (live restore), the running container keeps its IPv6 address and
    lease, the bridge its gateway, and a new container gets the next free address."""
    d = make_wharfd()
    subnet = _subnet6()
    name = f"wt-v6r-{secrets.token_hex(3)}"
    assert d.docker("network", "create", "--ipv6", "--subnet", str(subnet), name).returncode == 0
    assert d.docker("run", "-d", "--name", "keeper", "--network", name, "busybox", "sleep", "120").returncode == 0
    d.restart()
    out = d.docker("exec", "keeper", "ip", "-o", "-6", "addr", "show", "scope", "global").stdout
    assert f"inet6 {subnet[2]}/64" in out
    r = d.docker("run", "--rm", "--network", name, "busybox", "sh", "-c",
                 f"ip -o -6 addr show scope global; ping -6 -c1 -W5 {subnet[2]} >/dev/null && echo reached")
    assert f"inet6 {subnet[3]}/64" in r.stdout and r.stdout.endswith("reached\n"), r.stdout + r.stderr
    assert d.docker("rm", "-f", "keeper").returncode == 0
    assert d.docker("network", "rm", name).returncode == 0
