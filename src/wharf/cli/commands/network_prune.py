"""``wharf network prune``: remove networks no container uses, after asking."""

from __future__ import annotations

import sys
from typing import Any

from wharf.cli.commands.image_prune import confirm
from wharf.cli.common import filters_param
from wharf.client.http import Client

USAGE = "[OPTIONS]"
WARNING = "WARNING! This will remove all custom networks not used by at least one container."


def add_arguments(parser: Any) -> None:
    parser.add_argument("--filter", action="append", metavar="filter",
                        help='Provide filter values (e.g. "until=<timestamp>")')
    parser.add_argument("-f", "--force", action="store_true", help="Do not prompt for confirmation")


def run(args: Any, client: Client) -> int:
    if not args.force and not confirm(WARNING):
        return 0
    report = client.json("POST", "/networks/prune", {"filters": filters_param(args.filter)})
    deleted = report.get("NetworksDeleted") or []
    if deleted:
        sys.stdout.write("Deleted Networks:\n" + "".join(f"{n}\n" for n in deleted))
    return 0
