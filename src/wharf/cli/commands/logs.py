"""``wharf logs``: the container's json-file log, demultiplexed to stdout/stderr."""

from __future__ import annotations

import sys
TYPE_CHECKING = False  # typing costs the CLI ~6 ms of import time
if TYPE_CHECKING:
    from typing import Any

from wharf.cli.units import api_timestamp
from wharf.client.frames import copy_stream
from wharf.client.http import Client

ALIASES = "wharf container logs, wharf logs"


def add_arguments(parser: Any) -> None:
    parser.add_argument("--details", action="store_true", help="Show extra details provided to logs")
    parser.add_argument("-f", "--follow", action="store_true", help="Follow log output")
    parser.add_argument("--since", help='Show logs since timestamp (e.g. "2013-01-02T13:23:37Z") '
                        'or relative (e.g. "42m" for 42 minutes)')
    parser.add_argument("-n", "--tail", default="all", help="Number of lines to show from the end of the logs")
    parser.add_argument("-t", "--timestamps", action="store_true", help="Show timestamps")
    parser.add_argument("--until", help='Show logs before a timestamp (e.g. "2013-01-02T13:23:37Z") '
                        'or relative (e.g. "42m" for 42 minutes)')
    parser.add_argument("container", metavar="CONTAINER")


def run(args: Any, client: Client) -> int:
    info = client.get(f"/containers/{args.container}/json")
    params = {"stdout": 1, "stderr": 1, "follow": args.follow or None, "tail": args.tail,
              "timestamps": args.timestamps or None, "details": args.details or None,
              "since": api_timestamp(args.since) if args.since else None,
              "until": api_timestamp(args.until) if args.until else None}
    resp = client.request("GET", f"/containers/{info['Id']}/logs", params, stream=True)
    try:
        copy_stream(resp.iter_chunks(), sys.stdout.buffer, sys.stderr.buffer,
                    tty=bool(info.get("Config", {}).get("Tty")))
    finally:
        resp.close()
    return 0
