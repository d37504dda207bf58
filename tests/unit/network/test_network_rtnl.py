"""wharf.linux.rtnl: the veth request of a start, packed by hand, and its answer read."""

from __future__ import annotations

import errno
import struct

from wharf.linux import rtnl


def _attrs(data: bytes) -> dict[int, bytes]:
    """Top-level netlink attributes of ``data`` by type (one of each here)."""
    out, offset = {}, 0
    while offset + 4 <= len(data):
        size, kind = struct.unpack_from("=HH", data, offset)
        out[kind] = data[offset + 4: offset + size]
        offset += (size + 3) & ~3
    return out


def test_the_veth_request_names_both_ends_and_puts_the_peer_in_the_namespace() -> None:
    body = rtnl.veth_request("vethabc", "eth0", 7, "02:42:ac:11:00:02", master=12, mtu=1400)
    family, _, _, flags, change = struct.unpack_from("=BxHiII", body)
    assert (flags & rtnl.IFF_UP, change & rtnl.IFF_UP) == (rtnl.IFF_UP, rtnl.IFF_UP)
    top = _attrs(body[16:])
    assert top[rtnl.IFLA_IFNAME] == b"vethabc\0"
    assert struct.unpack("=I", top[rtnl.IFLA_MASTER]) == (12,)
    assert struct.unpack("=I", top[rtnl.IFLA_MTU]) == (1400,)
    info = _attrs(top[rtnl.IFLA_LINKINFO])
    assert info[rtnl.IFLA_INFO_KIND] == b"veth\0"
    peer = _attrs(_attrs(info[rtnl.IFLA_INFO_DATA])[rtnl.VETH_INFO_PEER][16:])
    assert peer[rtnl.IFLA_IFNAME] == b"eth0\0"
    assert struct.unpack("=I", peer[rtnl.IFLA_NET_NS_FD]) == (7,)
    assert peer[rtnl.IFLA_ADDRESS] == bytes([0x02, 0x42, 0xAC, 0x11, 0x00, 0x02])
    assert struct.unpack("=I", peer[rtnl.IFLA_MTU]) == (1400,)


def test_no_mtu_attribute_without_an_mtu() -> None:
    body = rtnl.veth_request("vethabc", "eth0", 7, "02:42:ac:11:00:02", master=12)
    assert rtnl.IFLA_MTU not in _attrs(body[16:])


def _message(kind: int, payload: bytes) -> bytes:
    return struct.pack("=IHHII", 16 + len(payload), kind, 0, 1, 0) + payload


def test_the_answer_is_an_ack_an_errno_or_not_yet() -> None:
    assert rtnl.ack(_message(rtnl.NLMSG_ERROR, struct.pack("=i", 0) + bytes(16))) == 0
    refused = _message(rtnl.NLMSG_ERROR, struct.pack("=i", -errno.EEXIST) + bytes(16))
    assert rtnl.ack(_message(rtnl.RTM_NEWLINK, bytes(16)) + refused) == -errno.EEXIST
    assert rtnl.ack(_message(rtnl.RTM_NEWLINK, bytes(16))) is None
    assert rtnl.ack(b"") is None
