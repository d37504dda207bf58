"""``wharf create``: the container ``run`` would make, not started; prints its ID."""

from __future__ import annotations

import sys
TYPE_CHECKING = False  # typing costs the CLI ~6 ms of import time
if TYPE_CHECKING:
    from typing import Any

from wharf.cli import containerspec
from wharf.client.http import Client

USAGE = "[OPTIONS] IMAGE [COMMAND] [ARG...]"
INTERSPERSED = False
ALIASES = "wharf container create, wharf create"


def add_arguments(parser: Any) -> None:
    containerspec.add_container_flags(parser)


def run(args: Any, client: Client) -> int:
    body = containerspec.build(args)
    cid = containerspec.create(client, body, args.name, args.pull, "wharf create", args.platform)["Id"]
    if args.cidfile:
        with open(args.cidfile, "w", encoding="utf-8") as fh:
            fh.write(cid)
    sys.stdout.write(f"{cid}\n")
    return 0
