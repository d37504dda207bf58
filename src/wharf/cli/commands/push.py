"""``wharf push``: push an image (or a repository's every tag) to its registry through the daemon."""

from __future__ import annotations

import os
import sys
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

from wharf.cli.commands.pull import auth_header, full_name, render, split_reference
from wharf.cli.errors import CommandError

USAGE = "[OPTIONS] NAME[:TAG]"
ALIASES = "wharf image push, wharf push"


def add_arguments(parser: Any) -> None:
    parser.add_argument("-a", "--all-tags", action="store_true", help="Push all tagged images in the repository")
    parser.add_argument("-q", "--quiet", action="store_true", help="Suppress verbose output")
    parser.add_argument("--disable-content-trust", action="store_true", default=True,
                        help="Skip image signing")
    parser.add_argument("name", metavar="NAME[:TAG]")


def run(args: Any, client: Any) -> int:
    repo, tag = split_reference(args.name)
    if tag.startswith("sha256:"):
        raise CommandError(f"invalid reference format: cannot push a digest reference: {args.name}")
    if args.all_tags and tag:
        raise CommandError("tag can't be used with --all-tags/-a")
    if not tag and not args.all_tags:
        tag = "latest"
        if not args.quiet:
            sys.stdout.write("Using default tag: latest\n")
    resp = client.request("POST", f"/images/{repo}/push", {"tag": tag or None},
                          headers=auth_header(repo), stream=True)
    render(resp, open(os.devnull, "w") if args.quiet else sys.stdout)
    if args.quiet:
        sys.stdout.write(full_name(repo, tag) + "\n")
    return 0
