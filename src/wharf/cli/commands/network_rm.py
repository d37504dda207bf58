"""``wharf network rm``: remove networks, each reported as docker does."""

from __future__ import annotations

from typing import Any

from wharf.cli.common import for_each
from wharf.client.http import APIError, Client

USAGE = "NETWORK [NETWORK...]"
ALIASES = "wharf network rm, wharf network remove"


def add_arguments(parser: Any) -> None:
    parser.add_argument("-f", "--force", action="store_true", help="Do not error if the network does not exist")
    parser.add_argument("networks", nargs="+", metavar="NETWORK")


def run(args: Any, client: Client) -> int:
    def remove(name: str) -> None:
        try:
            client.request("DELETE", f"/networks/{name}")
        except APIError as err:
            if not (args.force and err.status == 404):
                raise

    return for_each(args.networks, remove)
