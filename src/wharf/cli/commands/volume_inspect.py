"""``wharf volume inspect``: the daemon's JSON for one or more volumes, or a ``--format`` template."""

from __future__ import annotations

from typing import Any

from wharf.cli.commands import inspect
from wharf.cli.common import add_format
from wharf.client.http import Client

USAGE = "[OPTIONS] VOLUME [VOLUME...]"


def add_arguments(parser: Any) -> None:
    add_format(parser, table=False, short=True)
    parser.add_argument("names", nargs="+", metavar="VOLUME")


def run(args: Any, client: Client) -> int:
    args.type, args.size = "volume", False
    return inspect.run(args, client)
