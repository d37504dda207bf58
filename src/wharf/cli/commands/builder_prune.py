"""``wharf builder prune``: forget the build cache, after asking."""

from __future__ import annotations

from typing import Any

from wharf.cli import prune
from wharf.cli.common import add_prune_flags, confirm
from wharf.client.http import Client

USAGE = "[OPTIONS]"
WARNING = "WARNING! This will remove all dangling build cache."


def add_arguments(parser: Any) -> None:
    parser.add_argument("-a", "--all", action="store_true", help="Remove all unused build cache, not just dangling ones")
    add_prune_flags(parser, None)


def run(args: Any, client: Client) -> int:
    if not confirm(WARNING, args.force):
        return 0
    return prune.show(client, [prune.build_cache], args.all, None)
