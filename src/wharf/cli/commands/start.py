"""``wharf start``: start containers; with ``-a`` attach to one and exit with its code."""

from __future__ import annotations

import sys
TYPE_CHECKING = False  # typing costs the CLI ~6 ms of import time
if TYPE_CHECKING:
    from typing import Any

from wharf.cli.common import attach_and_pump, for_each, run_error, start_error_status
from wharf.cli.errors import CommandError
from wharf.client.http import APIError, Client

ALIASES = "wharf container start, wharf start"


def add_arguments(parser: Any) -> None:
    parser.add_argument("-a", "--attach", action="store_true", help="Attach STDOUT/STDERR and forward signals")
    parser.add_argument("--detach-keys", help="Override the key sequence for detaching a container")
    parser.add_argument("-i", "--interactive", action="store_true", help="Attach container's STDIN")
    parser.add_argument("containers", nargs="+", metavar="CONTAINER")


def run(args: Any, client: Client) -> int:
    if not (args.attach or args.interactive):
        status = for_each(args.containers, lambda c: client.request("POST", f"/containers/{c}/start"))
        if status:
            sys.stderr.write("Error: failed to start containers: " + ", ".join(args.containers) + "\n")
        return status
    if len(args.containers) > 1:
        raise CommandError("you cannot start and attach multiple containers at once", 1)
    info = client.get(f"/containers/{args.containers[0]}/json")
    cid, config = info["Id"], info["Config"]
    stdin = args.interactive and config.get("OpenStdin", False)

    def start() -> None:
        try:
            client.request("POST", f"/containers/{cid}/start")
        except APIError as err:
            raise run_error(err.message, "wharf start", start_error_status(err.message)) from None

    waiter = client.send("POST", f"/containers/{cid}/wait", {"condition": "next-exit"})
    try:
        if attach_and_pump(client, cid, tty=config.get("Tty", False), stdin=stdin, stdout=True, stderr=True,
                           detach_keys=args.detach_keys, before_pump=start, sig_proxy=True):
            return 0
        return int((client.check(client.receive(waiter)).json() or {}).get("StatusCode", 0))
    finally:
        waiter.close()
