"""``wharf context use``: make a context the current one (config.json's currentContext)."""

from __future__ import annotations

import os
import sys
TYPE_CHECKING = False  # typing costs the CLI ~6 ms of import time
if TYPE_CHECKING:
    from typing import Any

    from wharf.client.http import Client

from wharf.cli import contexts
from wharf.cli.errors import CommandError

USAGE = "CONTEXT"


def add_arguments(parser: Any) -> None:
    parser.add_argument("name", metavar="CONTEXT")


def run(args: Any, client: Client) -> int:
    try:
        contexts.use(args.name)
    except contexts.ContextError as e:
        raise CommandError(str(e), 1) from None
    sys.stdout.write(f"{args.name}\n")
    sys.stderr.write(f'Current context is now "{args.name}"\n')
    if args.name != contexts.DEFAULT and os.environ.get("DOCKER_HOST"):
        sys.stderr.write(f"Warning: DOCKER_HOST environment variable overrides the active "
                         f'context. To use "{args.name}", either set the global --context flag, '
                         "or unset DOCKER_HOST environment variable.\n")
    return 0
