"""wharfd's --cluster-store and --cluster-advertise values, and etcd key ranges."""

from __future__ import annotations

import base64

import pytest

from wharf.cluster.etcd import parse_endpoints, prefix_end
from wharf.daemon.main import parse_args
from wharf.errors import InvalidParameter
from wharf.network.overlay import advertise_address, split_store


def test_store_url_gives_every_endpoint_and_a_key_root() -> None:
    assert split_store("etcd://10.0.0.1:2379,10.0.0.2:2379") == (
        ["http://10.0.0.1:2379", "http://10.0.0.2:2379"], "/wharf")
    assert split_store("etcd://h:1/team/a/") == (["http://h:1"], "/team/a")


@pytest.mark.parametrize("bad", ["http://h:2379", "etcd://", "h:2379", "consul://h:8500"])
def test_store_url_must_be_etcd(bad: str) -> None:
    with pytest.raises(ValueError, match="etcd://host:port"):
        parse_endpoints(bad)


def test_prefix_range_ends_after_the_last_key_of_the_prefix() -> None:
    assert base64.b64decode(prefix_end("/wharf/")) == b"/wharf0"


def test_advertise_accepts_an_address_with_or_without_port() -> None:
    assert advertise_address("192.0.2.7") == "192.0.2.7"
    assert advertise_address("192.0.2.7:2376") == "192.0.2.7"


def test_advertise_interface_without_ipv4_is_refused() -> None:
    with pytest.raises(InvalidParameter, match="no such address or interface"):
        advertise_address("wharf-test-none0")


def test_daemon_flags() -> None:
    config, _ = parse_args(["--cluster-store", "etcd://h:2379", "--cluster-advertise", "eth0"])
    assert (config.cluster_store, config.cluster_advertise) == ("etcd://h:2379", "eth0")
    assert parse_args([])[0].cluster_store == ""
    with pytest.raises(SystemExit):
        parse_args(["--cluster-store", "etcd://h:2379"])
