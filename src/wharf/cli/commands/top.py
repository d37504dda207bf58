"""``wharf top``: the container's processes, as ``ps`` on the host shows them."""

from __future__ import annotations

import sys
TYPE_CHECKING = False  # typing costs the CLI ~6 ms of import time
if TYPE_CHECKING:
    from typing import Any

from wharf.cli.format import tabulate
from wharf.client.http import Client

USAGE = "CONTAINER [ps OPTIONS]"
INTERSPERSED = False
ALIASES = "wharf container top, wharf top"


def add_arguments(parser: Any) -> None:
    parser.add_argument("container", metavar="CONTAINER")
    parser.add_argument("ps_args", nargs="...", metavar="ps OPTIONS")


def run(args: Any, client: Client) -> int:
    params = {"ps_args": " ".join(args.ps_args) or None}
    result = client.get(f"/containers/{args.container}/top", **params)
    lines = ["\t".join(result.get("Titles") or [])]
    lines += ["\t".join(proc) for proc in result.get("Processes") or []]
    sys.stdout.write(tabulate(lines, minwidth=20))
    return 0
