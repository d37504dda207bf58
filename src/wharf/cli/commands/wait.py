"""``wharf wait``: block until each container stops, print its exit code."""

from __future__ import annotations

from wharf.cli.common import for_each

TYPE_CHECKING = False  # typing costs the CLI ~6 ms of import time
if TYPE_CHECKING:
    from typing import Any

    from wharf.client.http import Client

ALIASES = "wharf container wait, wharf wait"


def add_arguments(parser: Any) -> None:
    parser.add_argument("containers", nargs="+", metavar="CONTAINER")


def run(args: Any, client: Client) -> int:
    return for_each(args.containers, lambda name: client.json("POST", f"/containers/{name}/wait").get("StatusCode", 0),
                    show_result=True)
