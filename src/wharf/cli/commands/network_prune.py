"""``wharf network prune``: remove networks no container uses, after asking."""

from __future__ import annotations

from typing import Any

from wharf.cli import prune
from wharf.cli.common import add_prune_flags, confirm, filters_param
from wharf.client.http import Client

USAGE = "[OPTIONS]"
WARNING = "WARNING! This will remove all custom networks not used by at least one container."


def add_arguments(parser: Any) -> None:
    add_prune_flags(parser, "until=<timestamp>")


def run(args: Any, client: Client) -> int:
    if not confirm(WARNING, args.force):
        return 0
    return prune.show(client, [prune.networks], False, filters_param(args.filter), total=False)
