"""``wharf container prune``: remove every stopped container, after asking."""

from __future__ import annotations

TYPE_CHECKING = False  # typing costs the CLI ~6 ms of import time
if TYPE_CHECKING:
    from typing import Any

    from wharf.client.http import Client

from wharf.cli import prune
from wharf.cli.common import add_prune_flags, confirm, filters_param

USAGE = "[OPTIONS]"
WARNING = "WARNING! This will remove all stopped containers."


def add_arguments(parser: Any) -> None:
    add_prune_flags(parser, "until=<timestamp>")


def run(args: Any, client: Client) -> int:
    if not confirm(WARNING, args.force):
        return 0
    return prune.show(client, [prune.containers], False, filters_param(args.filter))
