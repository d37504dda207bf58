"""``wharf inspect``: low-level JSON of containers, images, networks or volumes."""

from __future__ import annotations

import json
import sys
TYPE_CHECKING = False  # typing costs the CLI ~6 ms of import time
if TYPE_CHECKING:
    from typing import Any

from wharf.cli.common import add_format
from wharf.cli.errors import CommandError
from wharf.cli.format import TemplateError, render_each
from wharf.client.http import APIError, Client

USAGE = "[OPTIONS] NAME|ID [NAME|ID...]"
#: --type -> (endpoint, how docker names it in "No such …")
KINDS = {"container": ("/containers/{}/json", "container"), "image": ("/images/{}/json", "image"),
         "network": ("/networks/{}", "network"), "volume": ("/volumes/{}", "volume")}


def add_arguments(parser: Any) -> None:
    add_format(parser, table=False, short=True)
    parser.add_argument("-s", "--size", action="store_true", help="Display total file sizes if the type is container")
    parser.add_argument("--type", help="Only inspect objects of the given type")
    parser.add_argument("names", nargs="+", metavar="NAME|ID")


def run(args: Any, client: Client) -> int:
    if args.type and args.type not in KINDS:
        raise CommandError(f'"{args.type}" is not a valid value for --type')
    found, missing = [], []
    for name in args.names:
        obj = lookup(client, name, [args.type] if args.type else list(KINDS), args.size)
        if obj is None:
            missing.append(f"Error: No such {args.type or 'object'}: {name}")
        else:
            found.append(obj)
    output(found, args.format)
    if missing:
        raise CommandError("\n".join(missing))
    return 0


def lookup(client: Client, name: str, kinds: list[str], size: bool) -> Any:
    """The first object of the given kinds with that name; None when none has it."""
    for kind in kinds:
        try:
            return client.get(KINDS[kind][0].format(name), size=size if kind == "container" and size else None)
        except APIError as err:
            if err.status != 404:
                raise
    return None


def output(objects: list[Any], fmt: str) -> None:
    """Docker's inspect output: an indented JSON array, or the template per object."""
    if not fmt:
        sys.stdout.write(json.dumps(objects, indent=4, ensure_ascii=False) + "\n")
        return
    try:
        sys.stdout.write(render_each(fmt, objects))
    except TemplateError as err:
        raise CommandError(f"Template parsing error: {err}") from None
