"""``wharf system df``: disk used by images, containers, volumes and the build cache."""

from __future__ import annotations

import sys
from typing import Any

from wharf.cli.common import add_format
from wharf.cli.format import render_rows
from wharf.cli.units import human_size
from wharf.client.http import Client

USAGE = "[OPTIONS]"
HEADERS = {"Type": "TYPE", "TotalCount": "TOTAL", "Active": "ACTIVE", "Size": "SIZE", "Reclaimable": "RECLAIMABLE"}
DEFAULT = "{{.Type}}\t{{.TotalCount}}\t{{.Active}}\t{{.Size}}\t{{.Reclaimable}}"


def add_arguments(parser: Any) -> None:
    add_format(parser)
    parser.add_argument("-v", "--verbose", action="store_true", help="Show detailed information on space usage")


def run(args: Any, client: Client) -> int:
    df = client.get("/system/df")
    images, containers = df.get("Images") or [], df.get("Containers") or []
    layers = df.get("LayersSize", 0)
    used = sum(i["Size"] - i["SharedSize"] for i in images if i.get("Containers") and i.get("SharedSize", -1) >= 0)
    rw = sum(c.get("SizeRw", 0) for c in containers)
    idle = sum(c.get("SizeRw", 0) for c in containers if c.get("State") != "running")
    rows = [_row("Images", len(images), sum(1 for i in images if i.get("Containers")), layers, layers - used),
            _row("Containers", len(containers), sum(1 for c in containers if c.get("State") == "running"), rw, idle),
            _row("Local Volumes", 0, 0, 0, 0), _row("Build Cache", 0, 0, 0, 0)]
    sys.stdout.write(render_rows(args.format, rows, HEADERS, DEFAULT))
    return 0


def _row(kind: str, total: int, active: int, size: int, reclaimable: int) -> dict[str, str]:
    """Docker shows the reclaimable share as a percentage once there is any size at all."""
    share = f" ({int(reclaimable * 100 / size)}%)" if size else ""
    return {"Type": kind, "TotalCount": str(total), "Active": str(active), "Size": human_size(size),
            "Reclaimable": human_size(reclaimable) + share}
