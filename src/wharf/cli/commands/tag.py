"""``wharf tag`` / ``wharf image tag``: another name for an image."""

from __future__ import annotations

from typing import Any

from wharf.client.http import Client

USAGE = "SOURCE_IMAGE[:TAG] TARGET_IMAGE[:TAG]"
ALIASES = "wharf image tag, wharf tag"


def add_arguments(parser: Any) -> None:
    parser.add_argument("source", metavar="SOURCE_IMAGE[:TAG]")
    parser.add_argument("target", metavar="TARGET_IMAGE[:TAG]")


def run(args: Any, client: Client) -> int:
    client.request("POST", f"/images/{args.source}/tag", {"repo": args.target})
    return 0
