"""``wharf volume prune``: remove the volumes no container uses, after asking."""

from __future__ import annotations

import sys
from typing import Any

from wharf.cli.common import add_prune_flags, confirm, filters_param
from wharf.cli.units import human_size
from wharf.client.http import Client

USAGE = "[OPTIONS]"
#: API 1.41's prune takes every unused volume, named or not (so docker's CLI has no -a for it).
WARNING = "WARNING! This will remove all local volumes not used by at least one container."


def add_arguments(parser: Any) -> None:
    add_prune_flags(parser, "label=<label>")


def run(args: Any, client: Client) -> int:
    if not confirm(WARNING, args.force):
        return 0
    report = client.json("POST", "/volumes/prune", {"filters": filters_param(args.filter)})
    deleted = report.get("VolumesDeleted") or []
    if deleted:
        sys.stdout.write("Deleted Volumes:\n" + "".join(f"{name}\n" for name in deleted) + "\n")
    sys.stdout.write(f"Total reclaimed space: {human_size(report.get('SpaceReclaimed', 0))}\n")
    return 0
