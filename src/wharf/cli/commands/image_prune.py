"""``wharf image prune``: remove dangling (or, with -a, all unused) images, after asking."""

from __future__ import annotations

from typing import Any

from wharf.cli import prune
from wharf.cli.common import add_prune_flags, confirm, filters_param
from wharf.client.http import Client

USAGE = "[OPTIONS]"
WARNING = "WARNING! This will remove all dangling images."
WARNING_ALL = "WARNING! This will remove all images without at least one container associated to them."


def add_arguments(parser: Any) -> None:
    parser.add_argument("-a", "--all", action="store_true", help="Remove all unused images, not just dangling ones")
    add_prune_flags(parser, "until=<timestamp>")


def run(args: Any, client: Client) -> int:
    if not confirm(WARNING_ALL if args.all else WARNING, args.force):
        return 0
    return prune.show(client, [prune.images], args.all, filters_param(args.filter))
