"""``wharf ps``: list containers in docker's columns, or through ``--format``."""

from __future__ import annotations

import sys
import time
TYPE_CHECKING = False  # typing costs the CLI ~6 ms of import time
if TYPE_CHECKING:
    from typing import Any

from wharf.cli.common import add_filter, add_format, filters_param, short_id
from wharf.cli.format import render_rows
from wharf.cli.units import ago, human_size
from wharf.client.http import Client

ALIASES = "wharf container ls, wharf container list, wharf container ps, wharf ps"
HEADERS = {"ID": "CONTAINER ID", "Image": "IMAGE", "Command": "COMMAND", "CreatedAt": "CREATED AT",
           "RunningFor": "CREATED", "Ports": "PORTS", "State": "STATE", "Status": "STATUS",
           "Size": "SIZE", "Names": "NAMES", "Labels": "LABELS", "Label": "LABEL",
           "Mounts": "MOUNTS", "Networks": "NETWORKS", "LocalVolumes": "LOCAL VOLUMES"}
DEFAULT = "{{.ID}}\t{{.Image}}\t{{.Command}}\t{{.RunningFor}}\t{{.Status}}\t{{.Ports}}\t{{.Names}}"


def add_arguments(parser: Any) -> None:
    parser.add_argument("-a", "--all", action="store_true", help="Show all containers (default shows just running)")
    add_filter(parser)
    add_format(parser)
    parser.add_argument("-n", "--last", type=int, default=-1,
                        help="Show n last created containers (includes all states)")
    parser.add_argument("-l", "--latest", action="store_true",
                        help="Show the latest created container (includes all states)")
    parser.add_argument("--no-trunc", action="store_true", help="Don't truncate output")
    parser.add_argument("-q", "--quiet", action="store_true", help="Only display container IDs")
    parser.add_argument("-s", "--size", action="store_true", help="Display total file sizes")


def run(args: Any, client: Client) -> int:
    limit = 1 if args.latest else args.last
    containers = client.get("/containers/json", all=args.all or None, limit=limit if limit > 0 else None,
                            size=args.size or None, filters=filters_param(args.filter))
    fmt = args.format
    if args.quiet and not fmt:
        fmt = "{{.ID}}"
    default = DEFAULT + ("\t{{.Size}}" if args.size else "")
    now = time.time()
    rows = [container_row(c, not args.no_trunc, now) for c in containers]
    sys.stdout.write(render_rows(fmt, rows, HEADERS, default))
    return 0


def ellipsis(text: str, width: int) -> str:
    """Docker's formatter.Ellipsis: cut to ``width`` runes, the last one an ellipsis."""
    return text if len(text) <= width else text[:width - 1] + "…"


def format_ports(ports: list[dict[str, Any]] | None) -> str:
    """``0.0.0.0:8080->80/tcp, 443/tcp`` (published first as docker sorts them)."""
    items = []
    for port in sorted(ports or [], key=lambda p: (p.get("PrivatePort", 0), p.get("Type", ""), p.get("IP", ""))):
        private = f"{port.get('PrivatePort')}/{port.get('Type', 'tcp')}"
        if port.get("PublicPort"):
            ip = port.get("IP") or "0.0.0.0"
            host = f"[{ip}]" if ":" in ip else ip
            items.append(f"{host}:{port['PublicPort']}->{private}")
        else:
            items.append(private)
    return ", ".join(dict.fromkeys(items))


def container_row(c: dict[str, Any], trunc: bool, now: float) -> dict[str, Any]:
    """The fields docker's ps template context offers for one container."""
    labels = c.get("Labels") or {}
    names = [n.lstrip("/") for n in c.get("Names") or []]
    if trunc:
        names = [n for n in names if "/" not in n][:1] or names[:1]
    command = c.get("Command", "")
    size = ""
    if "SizeRw" in c or "SizeRootFs" in c:
        size = f"{human_size(c.get('SizeRw') or 0)} (virtual {human_size(c.get('SizeRootFs') or 0)})"
    label = lambda key: labels.get(key, "")  # noqa: E731 (a template method: {{.Label "k"}})
    label.needs_args = True  # type: ignore[attr-defined]
    return {
        "ID": short_id(c.get("Id", ""), not trunc),
        "Image": c.get("Image", ""),
        "Command": _go_quote(ellipsis(command, 20) if trunc else command),
        "CreatedAt": time.strftime("%Y-%m-%d %H:%M:%S %z %Z", time.localtime(c.get("Created", 0))),
        "RunningFor": ago(c.get("Created", 0), now),
        "Ports": format_ports(c.get("Ports")),
        "State": c.get("State", ""),
        "Status": c.get("Status", ""),
        "Size": size,
        "Names": ",".join(names),
        "Labels": ",".join(f"{k}={v}" for k, v in sorted(labels.items())),
        "Label": label,
        "Mounts": ",".join(m.get("Name") or m.get("Source", "") for m in c.get("Mounts") or []),
        "Networks": ",".join(sorted((c.get("NetworkSettings") or {}).get("Networks") or {})),
        "LocalVolumes": str(sum(1 for m in c.get("Mounts") or [] if m.get("Driver") == "local")),
    }


def _go_quote(text: str) -> str:
    """strconv.Quote: double quotes, backslash escapes, printable Unicode (…) kept."""
    out = text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n").replace("\t", "\\t")
    return f'"{out}"'
