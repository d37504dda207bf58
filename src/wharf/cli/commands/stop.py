"""``wharf stop``: SIGTERM (or the stop signal), then SIGKILL after the timeout."""

from __future__ import annotations

TYPE_CHECKING = False  # typing costs the CLI ~6 ms of import time
if TYPE_CHECKING:
    from typing import Any

from wharf.cli.common import post_each

ALIASES = "wharf container stop, wharf stop"


def add_arguments(parser: Any) -> None:
    parser.add_argument("-s", "--signal", help="Signal to send to the container")
    parser.add_argument("-t", "--timeout", type=int, help="Seconds to wait before killing the container")
    parser.add_argument("containers", nargs="+", metavar="CONTAINER")


run = post_each("stop")
