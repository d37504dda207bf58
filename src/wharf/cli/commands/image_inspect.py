"""``wharf image inspect``: the daemon's JSON for one or more images, or a ``--format`` template."""

from __future__ import annotations

from typing import Any

from wharf.cli.commands import inspect
from wharf.cli.common import add_format
from wharf.client.http import Client

USAGE = "[OPTIONS] IMAGE [IMAGE...]"


def add_arguments(parser: Any) -> None:
    add_format(parser, table=False, short=True)
    parser.add_argument("names", nargs="+", metavar="IMAGE")


def run(args: Any, client: Client) -> int:
    """``wharf inspect --type image``, which words its errors as docker's ``image inspect``."""
    args.type, args.size = "image", False
    return inspect.run(args, client)
