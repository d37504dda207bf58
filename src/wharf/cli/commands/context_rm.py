"""``wharf context rm``: remove contexts from the docker CLI's store."""

from __future__ import annotations

import sys
TYPE_CHECKING = False  # typing costs the CLI ~6 ms of import time
if TYPE_CHECKING:
    from typing import Any

    from wharf.client.http import Client

from wharf.cli import contexts

USAGE = "CONTEXT [CONTEXT...]"
ALIASES = "wharf context rm, wharf context remove"


def add_arguments(parser: Any) -> None:
    parser.add_argument("-f", "--force", action="store_true",
                        help="Force the removal of a context in use")
    parser.add_argument("names", nargs="+", metavar="CONTEXT")


def run(args: Any, client: Client) -> int:
    failed = False
    for name in args.names:
        try:
            contexts.remove(name, args.force)
        except contexts.ContextError as e:
            sys.stderr.write(f"{e}\n")
            failed = True
            continue
        sys.stdout.write(f"{name}\n")
    return 1 if failed else 0
