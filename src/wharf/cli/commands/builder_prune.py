"""``wharf builder prune``: forget the build cache, after asking."""

from __future__ import annotations

import sys
from typing import Any

from wharf.cli.commands.image_prune import confirm
from wharf.cli.units import human_size
from wharf.client.http import Client

USAGE = "[OPTIONS]"
WARNING = "WARNING! This will remove all dangling build cache."


def add_arguments(parser: Any) -> None:
    parser.add_argument("-a", "--all", action="store_true", help="Remove all unused build cache, not just dangling ones")
    parser.add_argument("-f", "--force", action="store_true", help="Do not prompt for confirmation")


def run(args: Any, client: Client) -> int:
    if not args.force and not confirm(WARNING):
        return 0
    report = client.json("POST", "/build/prune", {"all": args.all or None})
    deleted = report.get("CachesDeleted") or []
    if deleted:
        sys.stdout.write("Deleted build cache objects:\n" + "".join(f"{key}\n" for key in deleted))
    sys.stdout.write(f"Total reclaimed space: {human_size(report.get('SpaceReclaimed', 0))}\n")
    return 0
