"""``wharf events``: the daemon's event stream, one line per event."""

from __future__ import annotations

import sys
import time
TYPE_CHECKING = False  # typing costs the CLI ~6 ms of import time
if TYPE_CHECKING:
    from typing import Any

from wharf.cli.common import add_filter, add_format, filters_param
from wharf.cli.errors import CommandError
from wharf.cli.format import Template, TemplateError, expand_escapes
from wharf.cli.units import api_timestamp
from wharf.client.http import Client

ALIASES = "wharf system events, wharf events"


def add_arguments(parser: Any) -> None:
    add_filter(parser)
    add_format(parser, table=False)
    parser.add_argument("--since", help="Show all events created since timestamp")
    parser.add_argument("--until", help="Stream events until this timestamp")


def run(args: Any, client: Client) -> int:
    try:
        template = Template(expand_escapes(args.format)) if args.format and args.format != "json" else None
    except TemplateError as err:
        raise CommandError(f"Template parsing error: {err}") from None
    params = {"since": api_timestamp(args.since) if args.since else None,
              "until": api_timestamp(args.until) if args.until else None,
              "filters": filters_param(args.filter)}
    resp = client.request("GET", "/events", params, stream=True)
    try:
        for event in resp.iter_json():
            if args.format == "json":
                import json
                line = json.dumps(event, separators=(",", ":"))
            else:
                line = template.render(event) if template else default_line(event)
            sys.stdout.write(line + "\n")
            sys.stdout.flush()
    finally:
        resp.close()
    return 0


def default_line(event: dict[str, Any]) -> str:
    """``2024-05-01T10:00:00.123456789+02:00 container start <id> (image=busybox, name=x)``."""
    nanos = int(event.get("timeNano") or int(event.get("time", 0)) * 10**9)
    seconds, frac = divmod(nanos, 10**9)
    local = time.localtime(seconds)
    offset = time.strftime("%z", local)
    zone = "Z" if offset == "+0000" else f"{offset[:3]}:{offset[3:]}"
    stamp = time.strftime("%Y-%m-%dT%H:%M:%S", local) + f".{frac:09d}{zone}"
    actor = event.get("Actor") or {}
    attrs = ", ".join(f"{k}={v}" for k, v in sorted((actor.get("Attributes") or {}).items()))
    line = f"{stamp} {event.get('Type', '')} {event.get('Action', '')} {actor.get('ID', '')}"
    return f"{line} ({attrs})" if attrs else line
