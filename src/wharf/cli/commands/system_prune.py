"""``wharf system prune``: stopped containers, unused networks, dangling (with -a
every unused) images and build cache, and with --volumes unused volumes, after
asking in docker's words."""

from __future__ import annotations

TYPE_CHECKING = False  # typing costs the CLI ~6 ms of import time
if TYPE_CHECKING:
    from typing import Any

    from wharf.client.http import Client

from wharf.cli import prune
from wharf.cli.common import confirm, filters_param
from wharf.cli.errors import CommandError

USAGE = "[OPTIONS]"


def add_arguments(parser: Any) -> None:
    parser.add_argument("-a", "--all", action="store_true",
                        help="Remove all unused images not just dangling ones")
    parser.add_argument("--filter", action="append", metavar="filter",
                        help="Provide filter values (e.g. 'label=<key>=<value>')")
    parser.add_argument("-f", "--force", action="store_true", help="Do not prompt for confirmation")
    parser.add_argument("--volumes", action="store_true", help="Prune volumes")


def warning(args: Any, filters: dict[str, list[str]] | None) -> str:
    """docker/cli's confirmation template, filled in."""
    items = ["all stopped containers", "all networks not used by at least one container"]
    if args.volumes:
        items.append("all volumes not used by at least one container")
    items.append("all images without at least one container associated to them" if args.all
                 else "all dangling images")
    items.append("all build cache" if args.all else "all dangling build cache")
    text = "WARNING! This will remove:\n" + "".join(f"  - {item}\n" for item in items)
    shown = sorted(f"{name}={value}" for name in ("label", "label!", "until")
                   for value in (filters or {}).get(name, []))
    if shown:
        text += "\n  Items to be pruned will be filtered with:\n" + "".join(
            f"  - {item}\n" for item in shown)
    return text


def run(args: Any, client: Client) -> int:
    filters = filters_param(args.filter)
    if args.volumes and "until" in (filters or {}):
        raise CommandError('ERROR: The "until" filter is not supported with "--volumes"', 1)
    if not confirm(warning(args, filters), args.force):
        return 0
    prunes = [prune.containers, prune.networks, *([prune.volumes] if args.volumes else []),
              prune.images, prune.build_cache]
    return prune.show(client, prunes, args.all, filters)
