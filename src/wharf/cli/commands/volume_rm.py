"""``wharf volume rm``: remove volumes, each name printed or its error reported."""

from __future__ import annotations

from typing import Any

from wharf.cli.common import for_each
from wharf.client.http import Client

USAGE = "[OPTIONS] VOLUME [VOLUME...]"
ALIASES = "wharf volume rm, wharf volume remove"


def add_arguments(parser: Any) -> None:
    parser.add_argument("-f", "--force", action="store_true",
                        help="Force the removal of one or more volumes")
    parser.add_argument("names", nargs="+", metavar="VOLUME")


def run(args: Any, client: Client) -> int:
    return for_each(args.names, lambda name: client.request(
        "DELETE", f"/volumes/{name}", {"force": args.force or None}))
