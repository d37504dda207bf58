"""``wharf exec``: run a command in a running container; exit with its code."""

from __future__ import annotations

import os
TYPE_CHECKING = False  # typing costs the CLI ~6 ms of import time
if TYPE_CHECKING:
    from typing import Any

from wharf.cli.common import interact, start_error_status
from wharf.cli.containerspec import env_list
from wharf.cli.errors import CommandError
from wharf.client.http import APIError, Client

USAGE = "[OPTIONS] CONTAINER COMMAND [ARG...]"
INTERSPERSED = False
ALIASES = "wharf container exec, wharf exec"


def add_arguments(parser: Any) -> None:
    parser.add_argument("-d", "--detach", action="store_true", help="Detached mode: run command in the background")
    parser.add_argument("--detach-keys", help="Override the key sequence for detaching a container")
    parser.add_argument("-e", "--env", action="append", help="Set environment variables")
    parser.add_argument("--env-file", action="append", help="Read in a file of environment variables")
    parser.add_argument("-i", "--interactive", action="store_true", help="Keep STDIN open even if not attached")
    parser.add_argument("--privileged", action="store_true", help="Give extended privileges to the command")
    parser.add_argument("-t", "--tty", action="store_true", help="Allocate a pseudo-TTY")
    parser.add_argument("-u", "--user", default="", help='Username or UID (format: "<name|uid>[:<group|gid>]")')
    parser.add_argument("-w", "--workdir", default="", help="Working directory inside the container")
    parser.add_argument("container", metavar="CONTAINER")
    parser.add_argument("command", nargs="+", metavar="COMMAND")


def exec_body(args: Any) -> dict[str, Any]:
    """The /containers/{id}/exec body docker sends for these flags."""
    attach = not args.detach
    return {"User": args.user, "Privileged": args.privileged, "Tty": args.tty,
            "AttachStdin": args.interactive and attach, "AttachStdout": attach, "AttachStderr": attach,
            "DetachKeys": args.detach_keys or "", "Env": env_list(args.env_file, args.env),
            "WorkingDir": args.workdir, "Cmd": args.command}


def run(args: Any, client: Client) -> int:
    if args.tty and args.interactive and not os.isatty(0):
        raise CommandError("the input device is not a TTY", 1)
    body = exec_body(args)
    exec_id = client.json("POST", f"/containers/{args.container}/exec", body=body)["Id"]
    start = {"Detach": args.detach, "Tty": args.tty}
    if args.detach:
        client.request("POST", f"/exec/{exec_id}/start", body=start)
        return 0
    try:
        conn = client.hijack("POST", f"/exec/{exec_id}/start", body=start)
    except APIError as err:
        status = start_error_status(err.message)
        raise CommandError(err.message, 126 if status == 125 else status) from None
    try:
        if interact(client, conn, f"/exec/{exec_id}/resize", args.tty, body["AttachStdin"], args.detach_keys):
            return 0
    finally:
        conn.close()
    return int(client.get(f"/exec/{exec_id}/json").get("ExitCode") or 0)

