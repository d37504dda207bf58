"""``wharf wait``: block until each container stops, print its exit code."""

from __future__ import annotations

import sys
TYPE_CHECKING = False  # typing costs the CLI ~6 ms of import time
if TYPE_CHECKING:
    from typing import Any

from wharf.client.http import APIError, Client

ALIASES = "wharf container wait, wharf wait"


def add_arguments(parser: Any) -> None:
    parser.add_argument("containers", nargs="+", metavar="CONTAINER")


def run(args: Any, client: Client) -> int:
    failed = False
    for name in args.containers:
        try:
            result = client.json("POST", f"/containers/{name}/wait")
        except APIError as err:
            sys.stderr.write(f"Error response from daemon: {err.message}\n")
            failed = True
            continue
        sys.stdout.write(f"{result.get('StatusCode', 0)}\n")
        sys.stdout.flush()
    return 1 if failed else 0
