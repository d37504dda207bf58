"""``wharf history`` / ``wharf image history``: an image's layers, newest first, in docker's columns."""

from __future__ import annotations

import sys
import time
from typing import Any

from wharf.cli.common import add_format, short_id
from wharf.cli.format import render_rows
from wharf.cli.units import ago, human_size
from wharf.client.http import Client

USAGE = "[OPTIONS] IMAGE"
ALIASES = "wharf image history, wharf history"
HEADERS = {"ID": "IMAGE", "CreatedSince": "CREATED", "CreatedAt": "CREATED AT", "CreatedBy": "CREATED BY",
           "Size": "SIZE", "Comment": "COMMENT"}
DEFAULT = "{{.ID}}\t{{.CreatedSince}}\t{{.CreatedBy}}\t{{.Size}}\t{{.Comment}}"
CREATED_BY_WIDTH = 45


def add_arguments(parser: Any) -> None:
    add_format(parser)
    parser.add_argument("-H", "--human", action="store_true", default=True,
                        help="Print sizes and dates in human readable format")
    parser.add_argument("--no-trunc", action="store_true", help="Don't truncate output")
    parser.add_argument("-q", "--quiet", action="store_true", help="Only show image IDs")
    parser.add_argument("image", metavar="IMAGE")


def run(args: Any, client: Client) -> int:
    entries = client.get(f"/images/{args.image}/history")
    if args.quiet and not args.format:
        sys.stdout.write("".join(f"{entry_id(e, args.no_trunc)}\n" for e in entries))
        return 0
    now = time.time()
    rows = [row(e, args.human, args.no_trunc, now) for e in entries]
    sys.stdout.write(render_rows(args.format, rows, HEADERS, DEFAULT))
    return 0


def entry_id(entry: dict[str, Any], no_trunc: bool) -> str:
    return entry["Id"] if entry["Id"] == "<missing>" or no_trunc else short_id(entry["Id"])


def row(entry: dict[str, Any], human: bool, no_trunc: bool, now: float) -> dict[str, Any]:
    created = entry.get("Created", 0)
    created_by = entry.get("CreatedBy", "").replace("\t", " ")
    if not no_trunc and len(created_by) > CREATED_BY_WIDTH:
        created_by = created_by[:CREATED_BY_WIDTH - 1] + "…"
    stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(created)) + _zone(created)
    return {"ID": entry_id(entry, no_trunc), "CreatedSince": ago(created, now) if human else stamp,
            "CreatedAt": stamp, "CreatedBy": created_by,
            "Size": human_size(entry.get("Size", 0)) if human else str(entry.get("Size", 0)),
            "Comment": entry.get("Comment", "")}


def _zone(when: float) -> str:
    """RFC 3339's offset as Go prints it: ``Z`` for UTC, else ``+01:00``."""
    offset = time.strftime("%z", time.localtime(when))
    return "Z" if offset in ("+0000", "-0000") else f"{offset[:3]}:{offset[3:]}"
