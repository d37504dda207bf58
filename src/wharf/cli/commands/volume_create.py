"""``wharf volume create``: make a volume (local driver options with ``-o``) and print its name."""

from __future__ import annotations

import sys
from typing import Any

from wharf.cli.errors import CommandError
from wharf.client.http import Client

USAGE = "[OPTIONS] [VOLUME]"


def add_arguments(parser: Any) -> None:
    parser.add_argument("-d", "--driver", default="local", help="Specify volume driver name")
    parser.add_argument("--label", action="append", help="Set metadata for a volume")
    parser.add_argument("--name", default="", help="Specify volume name")
    parser.add_argument("-o", "--opt", action="append", help="Set driver specific options")
    parser.add_argument("volume", nargs="?", metavar="VOLUME")


def _pairs(items: list[str] | None) -> dict[str, str]:
    return dict(item.partition("=")[::2] for item in items or [])


def run(args: Any, client: Client) -> int:
    if args.volume and args.name and args.volume != args.name:
        raise CommandError("conflicting options: cannot specify a volume-name through both "
                           "--name and as a positional arg")
    body = {"Name": args.volume or args.name, "Driver": args.driver,
            "DriverOpts": _pairs(args.opt), "Labels": _pairs(args.label)}
    volume = client.json("POST", "/volumes/create", None, body)
    sys.stdout.write(f"{volume['Name']}\n")
    return 0
