"""``wharf network disconnect``: detach a container from a network."""

from __future__ import annotations

from typing import Any

from wharf.client.http import Client

USAGE = "[OPTIONS] NETWORK CONTAINER"


def add_arguments(parser: Any) -> None:
    parser.add_argument("-f", "--force", action="store_true", help="Force the container to disconnect from a network")
    parser.add_argument("network", metavar="NETWORK")
    parser.add_argument("container", metavar="CONTAINER")


def run(args: Any, client: Client) -> int:
    client.request("POST", f"/networks/{args.network}/disconnect",
                   body={"Container": args.container, "Force": args.force})
    return 0
