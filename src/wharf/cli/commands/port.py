"""``wharf port``: a container's published ports (``80/tcp -> 0.0.0.0:8080``)."""

from __future__ import annotations

import sys
from typing import Any

from wharf.cli.errors import CommandError
from wharf.client.http import Client

USAGE = "CONTAINER [PRIVATE_PORT[/PROTO]]"


def add_arguments(parser: Any) -> None:
    parser.add_argument("container", metavar="CONTAINER")
    parser.add_argument("port", nargs="?", metavar="PRIVATE_PORT[/PROTO]")


def run(args: Any, client: Client) -> int:
    ports = (client.get(f"/containers/{args.container}/json")["NetworkSettings"].get("Ports")
             or {})
    if args.port:
        key = args.port if "/" in args.port else f"{args.port}/tcp"
        bound = ports.get(key)
        if not bound:
            raise CommandError(f"Error: No public port '{key}' published for {args.container}")
        sys.stdout.write("".join(f"{b['HostIp']}:{b['HostPort']}\n" for b in bound))
        return 0
    for key in sorted(ports, key=lambda k: (int(k.split("/")[0]), k)):
        for b in ports[key] or []:
            sys.stdout.write(f"{key} -> {b['HostIp']}:{b['HostPort']}\n")
    return 0
