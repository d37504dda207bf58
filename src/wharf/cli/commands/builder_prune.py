"""``wharf builder prune``: forget the build cache, after asking."""

from __future__ import annotations

import sys
from typing import Any

from wharf.cli.common import add_prune_flags, confirm
from wharf.cli.units import human_size
from wharf.client.http import Client

USAGE = "[OPTIONS]"
WARNING = "WARNING! This will remove all dangling build cache."


def add_arguments(parser: Any) -> None:
    parser.add_argument("-a", "--all", action="store_true", help="Remove all unused build cache, not just dangling ones")
    add_prune_flags(parser, None)


def run(args: Any, client: Client) -> int:
    if not confirm(WARNING, args.force):
        return 0
    report = client.json("POST", "/build/prune", {"all": args.all or None})
    deleted = report.get("CachesDeleted") or []
    if deleted:
        sys.stdout.write("Deleted build cache objects:\n" + "".join(f"{key}\n" for key in deleted))
    sys.stdout.write(f"Total reclaimed space: {human_size(report.get('SpaceReclaimed', 0))}\n")
    return 0
