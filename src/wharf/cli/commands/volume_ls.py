"""``wharf volume ls``: volumes in docker's columns, names only (``-q``) or through ``--format``."""

from __future__ import annotations

import sys
from typing import Any

from wharf.cli.common import add_filter, add_format, filters_param
from wharf.cli.format import render_rows
from wharf.client.http import Client

USAGE = "[OPTIONS]"
ALIASES = "wharf volume ls, wharf volume list"
HEADERS = {"Driver": "DRIVER", "Name": "VOLUME NAME", "Scope": "SCOPE",
           "Mountpoint": "MOUNTPOINT", "Labels": "LABELS", "Links": "LINKS", "Size": "SIZE"}
DEFAULT = "{{.Driver}}\t{{.Name}}"


def add_arguments(parser: Any) -> None:
    add_filter(parser)
    add_format(parser)
    parser.add_argument("-q", "--quiet", action="store_true", help="Only display volume names")


def row(volume: dict[str, Any]) -> dict[str, Any]:
    """A volume as docker's formatter sees it: ``.Labels`` joined, ``.Label "k"`` a method."""
    labels = volume.get("Labels") or {}
    label = lambda key: labels.get(key, "")  # noqa: E731 (a template method: {{.Label "k"}})
    label.needs_args = True  # type: ignore[attr-defined]
    return {"Driver": volume["Driver"], "Name": volume["Name"],
            "Scope": volume.get("Scope", "local"), "Mountpoint": volume.get("Mountpoint", ""),
            "Labels": ",".join(f"{k}={v}" for k, v in sorted(labels.items())), "Label": label,
            "Links": "N/A", "Size": "N/A"}


def run(args: Any, client: Client) -> int:
    filters = filters_param(args.filter)
    volumes = client.get("/volumes", filters=filters).get("Volumes") or []
    if args.quiet and not args.format:
        sys.stdout.write("".join(f"{v['Name']}\n" for v in volumes))
        return 0
    sys.stdout.write(render_rows(args.format, [row(v) for v in volumes], HEADERS, DEFAULT))
    return 0
