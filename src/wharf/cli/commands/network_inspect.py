"""``wharf network inspect``: the daemon's JSON for networks, or a ``--format`` template."""

from __future__ import annotations

from typing import Any

from wharf.cli.commands import inspect
from wharf.cli.common import add_format
from wharf.client.http import Client

USAGE = "[OPTIONS] NETWORK [NETWORK...]"


def add_arguments(parser: Any) -> None:
    add_format(parser, table=False, short=True)
    parser.add_argument("-v", "--verbose", action="store_true", help="Verbose output for diagnostics")
    parser.add_argument("names", nargs="+", metavar="NETWORK")


def run(args: Any, client: Client) -> int:
    args.type, args.size = "network", False
    return inspect.run(args, client)
