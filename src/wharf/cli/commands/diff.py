"""``wharf diff`` / ``wharf container diff``: files added (A), changed (C) or deleted (D) in a container."""

from __future__ import annotations

import sys
from typing import Any

from wharf.client.http import Client

USAGE = "CONTAINER"
ALIASES = "wharf container diff, wharf diff"
KINDS = {0: "C", 1: "A", 2: "D"}


def add_arguments(parser: Any) -> None:
    parser.add_argument("container", metavar="CONTAINER")


def run(args: Any, client: Client) -> int:
    changes = client.get(f"/containers/{args.container}/changes") or []
    sys.stdout.write("".join(f"{KINDS.get(c['Kind'], '?')} {c['Path']}\n" for c in changes))
    return 0
