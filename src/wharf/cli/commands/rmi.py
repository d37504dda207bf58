"""``wharf rmi`` / ``wharf image rm``: untag and remove images, printing what went."""

from __future__ import annotations

import sys
from typing import Any

from wharf.client.http import APIError, Client

USAGE = "[OPTIONS] IMAGE [IMAGE...]"
ALIASES = "wharf image rm, wharf image remove, wharf rmi"


def add_arguments(parser: Any) -> None:
    parser.add_argument("-f", "--force", action="store_true", help="Force removal of the image")
    parser.add_argument("--no-prune", action="store_true", help="Do not delete untagged parents")
    parser.add_argument("images", nargs="+", metavar="IMAGE")


def run(args: Any, client: Client) -> int:
    """Every image is tried; errors are reported together at the end, exit 1, as docker does."""
    errors = []
    for name in args.images:
        try:
            records = client.json("DELETE", f"/images/{name}",
                                  {"force": args.force or None, "noprune": args.no_prune or None})
        except APIError as err:
            errors.append(f"Error response from daemon: {err.message}")
            continue
        for record in records or []:
            key = "Deleted" if "Deleted" in record else "Untagged"
            sys.stdout.write(f"{key}: {record[key]}\n")
    if errors:
        sys.stderr.write("\n".join(errors) + "\n")
        return 1
    return 0
