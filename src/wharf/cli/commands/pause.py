"""``wharf pause``: freeze every process of the containers."""

from __future__ import annotations

TYPE_CHECKING = False  # typing costs the CLI ~6 ms of import time
if TYPE_CHECKING:
    from typing import Any

from wharf.cli.common import post_each

ALIASES = "wharf container pause, wharf pause"


def add_arguments(parser: Any) -> None:
    parser.add_argument("containers", nargs="+", metavar="CONTAINER")


run = post_each("pause")
