"""``wharf rm``: remove containers (``-f`` kills running ones first)."""

from __future__ import annotations

TYPE_CHECKING = False  # typing costs the CLI ~6 ms of import time
if TYPE_CHECKING:
    from typing import Any

from wharf.cli.common import for_each
from wharf.client.http import Client

ALIASES = "wharf container rm, wharf container remove, wharf rm"


def add_arguments(parser: Any) -> None:
    parser.add_argument("-f", "--force", action="store_true",
                        help="Force the removal of a running container (uses SIGKILL)")
    parser.add_argument("-l", "--link", action="store_true", help="Remove the specified link")
    parser.add_argument("-v", "--volumes", action="store_true",
                        help="Remove anonymous volumes associated with the container")
    parser.add_argument("containers", nargs="+", metavar="CONTAINER")


def run(args: Any, client: Client) -> int:
    params = {"force": args.force, "v": args.volumes, "link": args.link}
    return for_each([c.strip("/") for c in args.containers],
                    lambda c: client.request("DELETE", f"/containers/{c}", params))
