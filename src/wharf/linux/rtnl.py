"""The rtnetlink requests of every container start and exit, without pyroute2.

A start on a bridge network makes a veth pair: one end up on the bridge, the
other with its name and MAC in the container's namespace; the exit deletes
it. pyroute2 costs 2-3 ms of CPU for each (its socket object, event loop and
message classes, then decoding the answer); these are the same requests
packed by hand, their answers read as an ACK or an errno. Everything else
about links, addresses and routes stays with pyroute2 or ioctls.
"""

from __future__ import annotations

import os
import socket
import struct

RTM_NEWLINK, RTM_DELLINK = 16, 17
NLMSG_ERROR = 2
NLM_F_REQUEST, NLM_F_ACK, NLM_F_EXCL, NLM_F_CREATE = 0x1, 0x4, 0x200, 0x400
IFLA_ADDRESS, IFLA_IFNAME, IFLA_MTU, IFLA_MASTER = 1, 3, 4, 10
IFLA_LINKINFO, IFLA_NET_NS_FD = 18, 28
IFLA_INFO_KIND, IFLA_INFO_DATA = 1, 2
VETH_INFO_PEER = 1
IFF_UP = 0x1

_NLMSGHDR = struct.Struct("=IHHII")  # len, type, flags, seq, pid
_IFINFOMSG = struct.Struct("=BxHiII")  # family, pad, type, index, flags, change


def attr(kind: int, payload: bytes) -> bytes:
    """One netlink attribute (``struct nlattr``), padded to 4 bytes."""
    size = 4 + len(payload)
    return struct.pack("=HH", size, kind) + payload + b"\0" * (-size % 4)


def _name(value: str) -> bytes:
    return value.encode() + b"\0"


def _u32(value: int) -> bytes:
    return struct.pack("=I", value)


def veth_request(host: str, peer: str, peer_netns_fd: int, peer_mac: str, master: int,
                 mtu: int = 0) -> bytes:
    """RTM_NEWLINK's body (after the netlink header) for ``ip link add HOST master
    MASTER up mtu MTU type veth peer name PEER netns FD address MAC mtu MTU``."""
    mtu_attr = attr(IFLA_MTU, _u32(mtu)) if mtu else b""
    peer_msg = (_IFINFOMSG.pack(socket.AF_UNSPEC, 0, 0, 0, 0) + attr(IFLA_IFNAME, _name(peer))
                + attr(IFLA_NET_NS_FD, _u32(peer_netns_fd))
                + attr(IFLA_ADDRESS, bytes.fromhex(peer_mac.replace(":", ""))) + mtu_attr)
    linkinfo = attr(IFLA_INFO_KIND, _name("veth")) + attr(IFLA_INFO_DATA, attr(VETH_INFO_PEER, peer_msg))
    return (_IFINFOMSG.pack(socket.AF_UNSPEC, 0, 0, IFF_UP, IFF_UP) + attr(IFLA_IFNAME, _name(host))
            + attr(IFLA_MASTER, _u32(master)) + mtu_attr + attr(IFLA_LINKINFO, linkinfo))


def add_veth(host: str, peer: str, peer_netns_fd: int, peer_mac: str, master: int,
             mtu: int = 0) -> None:
    """Make the pair (see ``veth_request``) in the calling thread's namespace; the
    kernel's refusal is raised as OSError with its errno (EEXIST: a name is taken)."""
    request(RTM_NEWLINK, NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL,
            veth_request(host, peer, peer_netns_fd, peer_mac, master, mtu))


def delete_link(name: str) -> None:
    """``ip link del NAME`` (a veth's peer goes with it); ENODEV if there is none."""
    request(RTM_DELLINK, NLM_F_REQUEST | NLM_F_ACK,
            _IFINFOMSG.pack(socket.AF_UNSPEC, 0, 0, 0, 0) + attr(IFLA_IFNAME, _name(name)))


def request(kind: int, flags: int, body: bytes) -> None:
    """Send one request and wait for its ACK (an NLMSG_ERROR of 0) or its error."""
    with socket.socket(socket.AF_NETLINK, socket.SOCK_RAW | socket.SOCK_CLOEXEC,
                       socket.NETLINK_ROUTE) as sock:
        sock.bind((0, 0))
        sock.send(_NLMSGHDR.pack(_NLMSGHDR.size + len(body), kind, flags, 1, 0) + body)
        while True:
            code = ack(sock.recv(65536))
            if code is not None:
                break
    if code:
        raise OSError(-code, os.strerror(-code))


def ack(data: bytes) -> int | None:
    """The (negative errno or 0) code of the first NLMSG_ERROR in ``data``; None if none."""
    offset = 0
    while offset + _NLMSGHDR.size <= len(data):
        size, kind, _, _, _ = _NLMSGHDR.unpack_from(data, offset)
        if kind == NLMSG_ERROR:
            return int(struct.unpack_from("=i", data, offset + _NLMSGHDR.size)[0])
        if size < _NLMSGHDR.size:
            break
        offset += (size + 3) & ~3
    return None
