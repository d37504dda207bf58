"""``wharf attach``: connect the terminal to a running container's stdio."""

from __future__ import annotations

TYPE_CHECKING = False  # typing costs the CLI ~6 ms of import time
if TYPE_CHECKING:
    from typing import Any

from wharf.cli.common import attach_and_pump
from wharf.cli.errors import CommandError
from wharf.client.http import Client

ALIASES = "wharf container attach, wharf attach"


def add_arguments(parser: Any) -> None:
    parser.add_argument("--detach-keys", help="Override the key sequence for detaching a container")
    parser.add_argument("--no-stdin", action="store_true", help="Do not attach STDIN")
    parser.add_argument("--sig-proxy", action="store_true", default=True,
                        help="Proxy all received signals to the process")
    parser.add_argument("container", metavar="CONTAINER")


def run(args: Any, client: Client) -> int:
    info = client.get(f"/containers/{args.container}/json")
    state, config = info.get("State") or {}, info.get("Config") or {}
    if not state.get("Running"):
        raise CommandError("You cannot attach to a stopped container, start it first")
    if state.get("Paused"):
        raise CommandError("You cannot attach to a paused container, unpause it first")
    stdin = not args.no_stdin and bool(config.get("OpenStdin"))
    if attach_and_pump(client, info["Id"], tty=bool(config.get("Tty")), stdin=stdin, stdout=True, stderr=True,
                       detach_keys=args.detach_keys, sig_proxy=args.sig_proxy):
        return 0
    after = client.get(f"/containers/{info['Id']}/json").get("State") or {}
    return 0 if after.get("Running") else int(after.get("ExitCode") or 0)
