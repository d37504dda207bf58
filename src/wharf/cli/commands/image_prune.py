"""``wharf image prune``: remove dangling (or, with -a, all unused) images, after asking."""

from __future__ import annotations

import sys
from typing import Any

from wharf.cli.common import filters_param
from wharf.cli.units import human_size
from wharf.client.http import Client

USAGE = "[OPTIONS]"
WARNING = "WARNING! This will remove all dangling images."
WARNING_ALL = "WARNING! This will remove all images without at least one container associated to them."


def add_arguments(parser: Any) -> None:
    parser.add_argument("-a", "--all", action="store_true", help="Remove all unused images, not just dangling ones")
    parser.add_argument("--filter", action="append", metavar="filter",
                        help='Provide filter values (e.g. "until=<timestamp>")')
    parser.add_argument("-f", "--force", action="store_true", help="Do not prompt for confirmation")


def confirm(warning: str) -> bool:
    """Docker's prompt; anything but y/Y (or no terminal answer) is no."""
    sys.stdout.write(f"{warning}\nAre you sure you want to continue? [y/N] ")
    sys.stdout.flush()
    return sys.stdin.readline().strip().lower() == "y"


def run(args: Any, client: Client) -> int:
    if not args.force and not confirm(WARNING_ALL if args.all else WARNING):
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
