"""``wharf run``: create, attach, start, wait — docker's run flow and exit codes."""

from __future__ import annotations

import os
import sys
TYPE_CHECKING = False  # typing costs the CLI ~6 ms of import time
if TYPE_CHECKING:
    from typing import Any

from wharf.cli import containerspec
from wharf.cli.common import attach_and_pump, run_error, start_error_status
from wharf.cli.errors import CommandError
from wharf.client.http import APIError, Client, StreamError

USAGE = "[OPTIONS] IMAGE [COMMAND] [ARG...]"
INTERSPERSED = False
ALIASES = "wharf container run, wharf run"


def add_arguments(parser: Any) -> None:
    parser.add_argument("-d", "--detach", action="store_true",
                        help="Run container in background and print container ID")
    parser.add_argument("--detach-keys", help="Override the key sequence for detaching a container")
    parser.add_argument("--sig-proxy", action="store_true", default=True,
                        help="Proxy received signals to the process")
    containerspec.add_container_flags(parser)


def run(args: Any, client: Client) -> int:
    command = "wharf run"
    body = containerspec.build(args, detach=args.detach)
    stdin, stdout, stderr = body["AttachStdin"], body["AttachStdout"], body["AttachStderr"]
    if args.tty and stdin and not os.isatty(0):
        raise CommandError("the input device is not a TTY", 1)
    cid = containerspec.create(client, body, args.name, args.pull, command, args.platform)["Id"]
    if args.cidfile:
        with open(args.cidfile, "w", encoding="utf-8") as fh:
            fh.write(cid)
    if args.detach:
        _start(client, cid, command)
        sys.stdout.write(f"{cid}\n")
        return 0
    condition = "removed" if args.rm else "next-exit"
    waiter = client.send("POST", f"/containers/{cid}/wait", {"condition": condition})
    try:
        detached = attach_and_pump(client, cid, tty=args.tty, stdin=stdin, stdout=stdout, stderr=stderr,
                                   detach_keys=args.detach_keys,
                                   before_pump=lambda: _start(client, cid, command),
                                   sig_proxy=args.sig_proxy)
        if detached:
            return 0
        result = client.check(client.receive(waiter)).json() or {}
    except StreamError as err:  # the daemon went away mid-run: docker's words
        sys.stderr.write(f"error waiting for container: {err}\n")
        return 125
    finally:
        waiter.close()
    error = (result.get("Error") or {}).get("Message")
    if error:
        sys.stderr.write(f"wharf: Error response from daemon: {error}\n")
        return 125
    return int(result.get("StatusCode", 0))


def _start(client: Client, cid: str, command: str) -> None:
    """Start; a command that cannot run exits 126/127 as docker's does."""
    try:
        client.request("POST", f"/containers/{cid}/start")
    except APIError as err:
        raise run_error(err.message, command, start_error_status(err.message)) from None
