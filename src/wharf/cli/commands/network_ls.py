"""``wharf network ls``: networks in docker's columns, or through ``--format``."""

from __future__ import annotations

import sys
from typing import Any

from wharf.cli.common import add_filter, add_format, filters_param, short_id
from wharf.cli.format import render_rows
from wharf.client.http import Client

USAGE = "[OPTIONS]"
ALIASES = "wharf network ls, wharf network list"
HEADERS = {"ID": "NETWORK ID", "Name": "NAME", "Driver": "DRIVER", "Scope": "SCOPE",
           "IPv6": "IPV6", "Internal": "INTERNAL", "Labels": "LABELS", "CreatedAt": "CREATED"}
DEFAULT = "{{.ID}}\t{{.Name}}\t{{.Driver}}\t{{.Scope}}"


def add_arguments(parser: Any) -> None:
    add_filter(parser)
    add_format(parser)
    parser.add_argument("--no-trunc", action="store_true", help="Do not truncate the output")
    parser.add_argument("-q", "--quiet", action="store_true", help="Only display network IDs")


def run(args: Any, client: Client) -> int:
    networks = client.get("/networks", filters=filters_param(args.filter))
    rows = [{"ID": short_id(n["Id"], args.no_trunc), "Name": n["Name"], "Driver": n["Driver"],
             "Scope": n["Scope"], "IPv6": str(n.get("EnableIPv6", False)).lower(),
             "Internal": str(n.get("Internal", False)).lower(), "CreatedAt": n.get("Created", ""),
             "Labels": ",".join(f"{k}={v}" for k, v in (n.get("Labels") or {}).items())}
            for n in sorted(networks, key=lambda n: n["Name"])]
    if args.quiet and not args.format:
        sys.stdout.write("".join(f"{r['ID']}\n" for r in rows))
        return 0
    sys.stdout.write(render_rows(args.format, rows, HEADERS, DEFAULT))
    return 0
