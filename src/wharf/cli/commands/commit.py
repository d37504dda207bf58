"""``wharf commit`` / ``wharf container commit``: a new image from a container's changes."""

from __future__ import annotations

import sys
from typing import Any

from wharf.client.http import Client, encode_query, quote

USAGE = "[OPTIONS] CONTAINER [REPOSITORY[:TAG]]"
ALIASES = "wharf container commit, wharf commit"


def add_arguments(parser: Any) -> None:
    parser.add_argument("-a", "--author", default="",
                        help='Author (e.g., "John Hannibal Smith <hannibal@a-team.com>")')
    parser.add_argument("-c", "--change", action="append", metavar="list",
                        help="Apply Dockerfile instruction to the created image")
    parser.add_argument("-m", "--message", default="", help="Commit message")
    parser.add_argument("-p", "--pause", action="store_true", default=True,
                        help="Pause container during commit")
    parser.add_argument("container", metavar="CONTAINER")
    parser.add_argument("reference", nargs="?", default="", metavar="REPOSITORY[:TAG]")


def run(args: Any, client: Client) -> int:
    changes = "".join(f"&changes={quote(c)}" for c in args.change or [])
    params = {"container": args.container, "repo": args.reference or None, "comment": args.message or None,
              "author": args.author or None, "pause": args.pause}
    result = client.json("POST", f"/commit{encode_query(params)}{changes}", body={})
    sys.stdout.write(f"{result['Id']}\n")
    return 0
