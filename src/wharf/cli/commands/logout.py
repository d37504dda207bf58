"""``wharf logout``: forget the credentials saved for a registry."""

from __future__ import annotations

import sys
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

from wharf.cli.errors import CommandError

USAGE = "[SERVER]"


def add_arguments(parser: Any) -> None:
    parser.add_argument("server", nargs="?", default="", metavar="SERVER")


def run(args: Any, client: Any) -> int:
    from wharf.cli import credentials
    server = credentials.server_key(args.server or credentials.INDEX_SERVER)
    try:
        removed = credentials.erase(server)
    except (credentials.CredentialsError, OSError) as err:
        raise CommandError(str(err)) from None
    if not removed:
        sys.stdout.write(f"Not logged in to {server}\n")
    else:
        sys.stdout.write(f"Removing login credentials for {server}\n")
    return 0
