"""``wharf volume prune``: remove the volumes no container uses, after asking."""

from __future__ import annotations

from typing import Any

from wharf.cli import prune
from wharf.cli.common import add_prune_flags, confirm, filters_param
from wharf.client.http import Client

USAGE = "[OPTIONS]"
#: API 1.41's prune takes every unused volume, named or not (so docker's CLI has no -a for it).
WARNING = "WARNING! This will remove all local volumes not used by at least one container."


def add_arguments(parser: Any) -> None:
    add_prune_flags(parser, "label=<label>")


def run(args: Any, client: Client) -> int:
    if not confirm(WARNING, args.force):
        return 0
    return prune.show(client, [prune.volumes], False, filters_param(args.filter))
