"""``wharf network connect`` / ``disconnect``: attach a container to a network or detach it."""

from __future__ import annotations

from typing import Any

from wharf.cli.containerspec import endpoint_ipam
from wharf.client.http import Client

USAGE = "[OPTIONS] NETWORK CONTAINER"


def add_arguments(parser: Any) -> None:
    parser.add_argument("--alias", action="append", help="Add network-scoped alias for the container")
    parser.add_argument("--ip", default="", help="IPv4 address (e.g., 172.30.100.104)")
    parser.add_argument("--ip6", default="", help="IPv6 address (e.g., 2001:db8::33)")
    parser.add_argument("--link-local-ip", action="append", help="Add a link-local address for the container")
    parser.add_argument("--link", action="append", help="Add link to another container")
    parser.add_argument("network", metavar="NETWORK")
    parser.add_argument("container", metavar="CONTAINER")


def run(args: Any, client: Client) -> int:
    endpoint = {"Aliases": args.alias or None, "Links": args.link or None,
                "IPAMConfig": endpoint_ipam(args.ip, args.ip6, args.link_local_ip)}
    client.request("POST", f"/networks/{args.network}/connect",
                   body={"Container": args.container, "EndpointConfig": endpoint})
    return 0
