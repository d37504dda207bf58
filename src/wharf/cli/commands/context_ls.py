"""``wharf context ls``: the contexts of the docker CLI's store, the current one starred."""

from __future__ import annotations

import sys
TYPE_CHECKING = False  # typing costs the CLI ~6 ms of import time
if TYPE_CHECKING:
    from typing import Any

    from wharf.client.http import Client

from wharf.cli import contexts
from wharf.cli.common import add_format
from wharf.cli.format import render_rows

USAGE = "[OPTIONS]"
ALIASES = "wharf context ls, wharf context list"
HEADERS = {"Name": "NAME", "Description": "DESCRIPTION", "DockerEndpoint": "DOCKER ENDPOINT",
           "Error": "ERROR", "Current": "CURRENT"}
DEFAULT = "{{.Name}}{{if .Current}} *{{end}}\t{{.Description}}\t{{.DockerEndpoint}}\t{{.Error}}"


def add_arguments(parser: Any) -> None:
    add_format(parser)
    parser.add_argument("-q", "--quiet", action="store_true", help="Only show context names")


def run(args: Any, client: Client) -> int:
    current = contexts.resolve(None, None)
    rows = []
    for name in [contexts.DEFAULT, *contexts.names()]:
        meta = contexts.get(name)
        rows.append({"Name": name, "Current": name == current,
                     "Description": (meta.get("Metadata") or {}).get("Description", ""),
                     "DockerEndpoint": meta["Endpoints"]["docker"]["Host"], "Error": ""})
    if args.quiet and not args.format:
        sys.stdout.write("".join(f"{r['Name']}\n" for r in rows))
        return 0
    sys.stdout.write(render_rows(args.format, rows, HEADERS, DEFAULT))
    return 0
