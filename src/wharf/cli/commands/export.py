"""``wharf export`` / ``wharf container export``: a container's filesystem as a tar archive."""

from __future__ import annotations

import sys
from typing import Any

from wharf.cli.commands.save import TERMINAL, write_body
from wharf.cli.errors import CommandError
from wharf.client.http import Client

USAGE = "[OPTIONS] CONTAINER"
ALIASES = "wharf container export, wharf export"


def add_arguments(parser: Any) -> None:
    parser.add_argument("-o", "--output", default="", help="Write to a file, instead of STDOUT")
    parser.add_argument("container", metavar="CONTAINER")


def run(args: Any, client: Client) -> int:
    if not args.output and sys.stdout.isatty():
        raise CommandError(TERMINAL)
    write_body(client.request("GET", f"/containers/{args.container}/export", stream=True), args.output)
    return 0
