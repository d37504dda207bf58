"""/etc/hosts and /etc/resolv.conf for a container, as Docker writes them."""

from wharf.network.etcfiles import hosts_file, resolv_conf

HOST = "# generated\nnameserver 127.0.0.53\nnameserver 10.0.0.2\nsearch corp.example\noptions edns0\n"


def test_hosts_file_order_and_extra_hosts() -> None:
    text = hosts_file("abc123", "172.17.0.2", ["db:10.0.0.5", "v6:[fd00::5]"])
    lines = text.splitlines()
    assert lines[0] == "127.0.0.1\tlocalhost"
    assert lines[-3:] == ["10.0.0.5\tdb", "fd00::5\tv6", "172.17.0.2\tabc123"]
    assert hosts_file("h", "10.1.1.1", domainname="example").endswith("10.1.1.1\th.example h\n")
    assert "\th\n" not in hosts_file("h", None)  # --network none: no address of its own
    assert hosts_file("h", "10.1.1.1", address6="fd00::3").endswith("10.1.1.1\th\nfd00::3\th\n")


def test_default_bridge_copies_the_host_without_loopback_servers() -> None:
    rc = resolv_conf(HOST)
    assert rc.text == "nameserver 10.0.0.2\nsearch corp.example\noptions edns0\n"
    assert rc.upstreams == []
    only_local = resolv_conf("nameserver 127.0.0.53\n")
    assert only_local.text == "nameserver 8.8.8.8\nnameserver 8.8.4.4\n"


def test_flags_replace_host_values() -> None:
    rc = resolv_conf(HOST, dns=["1.1.1.1"], dns_search=["."], dns_options=["attempts:2"])
    assert rc.text == "nameserver 1.1.1.1\noptions attempts:2\n"


def test_embedded_dns_points_at_127_0_0_11_and_forwards_to_the_real_servers() -> None:
    rc = resolv_conf(HOST, embedded=True)
    assert rc.text == "nameserver 127.0.0.11\nsearch corp.example\noptions ndots:0 edns0\n"
    # the forwarder runs in the daemon's namespace: the host's loopback resolver stays usable
    assert rc.upstreams == ["127.0.0.53", "10.0.0.2"]
