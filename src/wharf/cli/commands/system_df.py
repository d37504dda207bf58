"""``wharf system df``: disk used by images, containers, volumes and the build cache.

Docker's numbers and columns, from ``GET /system/df``; ``-v`` prints each
image, container and volume as the docker CLI does.
"""

from __future__ import annotations

import sys
import time
from typing import Any

from wharf.cli.commands import images as images_cmd
from wharf.cli.commands import ps
from wharf.cli.common import add_format
from wharf.cli.format import render_rows
from wharf.cli.units import human_size
from wharf.client.http import Client

USAGE = "[OPTIONS]"
HEADERS = {"Type": "TYPE", "TotalCount": "TOTAL", "Active": "ACTIVE", "Size": "SIZE", "Reclaimable": "RECLAIMABLE"}
DEFAULT = "{{.Type}}\t{{.TotalCount}}\t{{.Active}}\t{{.Size}}\t{{.Reclaimable}}"
IMAGES = ("{{.Repository}}\t{{.Tag}}\t{{.ID}}\t{{.CreatedSince}}\t{{.Size}}\t{{.SharedSize}}"
          "\t{{.UniqueSize}}\t{{.Containers}}")
CONTAINERS = ("{{.ID}}\t{{.Image}}\t{{.Command}}\t{{.LocalVolumes}}\t{{.Size}}\t{{.RunningFor}}"
              "\t{{.Status}}\t{{.Names}}")
VOLUMES = "{{.Name}}\t{{.Links}}\t{{.Size}}"
VOLUME_HEADERS = {"Name": "VOLUME NAME", "Links": "LINKS", "Size": "SIZE"}
CACHE = "{{.ID}}\t{{.CacheType}}\t{{.Size}}\t{{.CreatedSince}}\t{{.LastUsedSince}}\t{{.UsageCount}}\t{{.Shared}}"
CACHE_HEADERS = {"ID": "CACHE ID", "CacheType": "CACHE TYPE", "Size": "SIZE", "CreatedSince": "CREATED",
                 "LastUsedSince": "LAST USED", "UsageCount": "USAGE", "Shared": "SHARED"}


def add_arguments(parser: Any) -> None:
    add_format(parser)
    parser.add_argument("-v", "--verbose", action="store_true", help="Show detailed information on space usage")


def run(args: Any, client: Client) -> int:
    df = client.get("/system/df")
    sys.stdout.write(_verbose(df) if args.verbose else _summary(df, args.format))
    return 0


def _summary(df: dict[str, Any], fmt: str) -> str:
    images, containers = df.get("Images") or [], df.get("Containers") or []
    volumes = [v.get("UsageData") or {} for v in df.get("Volumes") or []]
    layers = df.get("LayersSize", 0)
    used = sum(i["Size"] - i["SharedSize"] for i in images if i.get("Containers") and i.get("SharedSize", -1) >= 0)
    rw = sum(c.get("SizeRw", 0) for c in containers)
    idle = sum(c.get("SizeRw", 0) for c in containers if c.get("State") != "running")
    volume_size = sum(max(v.get("Size", 0), 0) for v in volumes)
    unused = sum(max(v.get("Size", 0), 0) for v in volumes if not v.get("RefCount"))
    rows = [_row("Images", len(images), sum(1 for i in images if i.get("Containers")), layers, layers - used),
            _row("Containers", len(containers), sum(1 for c in containers if c.get("State") == "running"), rw, idle),
            _row("Local Volumes", len(volumes), sum(1 for v in volumes if v.get("RefCount")), volume_size, unused),
            _row("Build Cache", 0, 0, 0, 0)]
    return render_rows(fmt, rows, HEADERS, DEFAULT)


def _row(kind: str, total: int, active: int, size: int, reclaimable: int) -> dict[str, str]:
    """Docker shows the reclaimable share as a percentage once there is any size at all."""
    share = f" ({int(reclaimable * 100 / size)}%)" if size else ""
    return {"Type": kind, "TotalCount": str(total), "Active": str(active), "Size": human_size(size, 4),
            "Reclaimable": human_size(reclaimable, 4) + share}


def _verbose(df: dict[str, Any]) -> str:
    """The four tables of ``docker system df -v``, each under its heading."""
    now = time.time()
    images = [row for image in df.get("Images") or [] for row in images_cmd.image_rows(image, False, now)]
    containers = []
    for c in df.get("Containers") or []:
        row = ps.container_row(c, True, now)
        row["Size"] = human_size(c.get("SizeRw") or 0)
        containers.append(row)
    volumes = [{"Name": v["Name"], "Links": str((v.get("UsageData") or {}).get("RefCount", 0)),
                "Size": human_size(max((v.get("UsageData") or {}).get("Size", 0), 0), 4)}
               for v in df.get("Volumes") or []]
    return "\n".join([
        "Images space usage:\n", render_rows("", images, images_cmd.HEADERS, IMAGES),
        "Containers space usage:\n", render_rows("", containers, ps.HEADERS, CONTAINERS),
        "Local Volumes space usage:\n", render_rows("", volumes, VOLUME_HEADERS, VOLUMES),
        "Build cache usage: 0B\n", render_rows("", [], CACHE_HEADERS, CACHE)]).rstrip("\n") + "\n"
