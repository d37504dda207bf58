"""``wharf image prune``: remove dangling (or, with -a, all unused) images, after asking."""

from __future__ import annotations

import sys
from typing import Any

from wharf.cli.common import add_prune_flags, confirm, filters_param
from wharf.cli.units import human_size
from wharf.client.http import Client

USAGE = "[OPTIONS]"
WARNING = "WARNING! This will remove all dangling images."
WARNING_ALL = "WARNING! This will remove all images without at least one container associated to them."


def add_arguments(parser: Any) -> None:
    parser.add_argument("-a", "--all", action="store_true", help="Remove all unused images, not just dangling ones")
    add_prune_flags(parser, "until=<timestamp>")


def run(args: Any, client: Client) -> int:
    if not confirm(WARNING_ALL if args.all else WARNING, args.force):
        return 0
    filters = filters_param(args.filter) or {}
    filters["dangling"] = ["false" if args.all else "true"]
    report = client.json("POST", "/images/prune", {"filters": filters})
    deleted = report.get("ImagesDeleted") or []
    if deleted:
        sys.stdout.write("Deleted Images:\n")
        for record in deleted:
            key = "untagged" if "Untagged" in record else "deleted"
            sys.stdout.write(f"{key}: {record.get('Untagged') or record.get('Deleted')}\n")
        sys.stdout.write("\n")
    sys.stdout.write(f"Total reclaimed space: {human_size(report.get('SpaceReclaimed', 0))}\n")
    return 0
