"""``wharf rename``: give a container a new name."""

from __future__ import annotations

TYPE_CHECKING = False  # typing costs the CLI ~6 ms of import time
if TYPE_CHECKING:
    from typing import Any

from wharf.cli.errors import CommandError
from wharf.client.http import Client

ALIASES = "wharf container rename, wharf rename"


def add_arguments(parser: Any) -> None:
    parser.add_argument("container", metavar="CONTAINER")
    parser.add_argument("new_name", metavar="NEW_NAME")


def run(args: Any, client: Client) -> int:
    old, new = args.container.strip(), args.new_name.strip()
    if not old or not new:
        raise CommandError("Error: Neither old nor new names may be empty")
    client.request("POST", f"/containers/{old}/rename", {"name": new})
    return 0
