"""``wharf import`` / ``wharf image import``: a filesystem image from a rootfs tarball."""

from __future__ import annotations

import sys
from typing import Any, BinaryIO

from wharf.cli.commands.load import chunks
from wharf.cli.errors import CommandError
from wharf.client.http import Client, encode_query, quote

USAGE = "[OPTIONS] file|URL|- [REPOSITORY[:TAG]]"
ALIASES = "wharf image import, wharf import"


def add_arguments(parser: Any) -> None:
    parser.add_argument("-c", "--change", action="append", metavar="list",
                        help="Apply Dockerfile instruction to the created image")
    parser.add_argument("-m", "--message", default="", help="Set commit message for imported image")
    parser.add_argument("--platform", default="", help="Set platform if server is multi-platform capable")
    parser.add_argument("source", metavar="file|URL|-")
    parser.add_argument("reference", nargs="?", default="", metavar="REPOSITORY[:TAG]")


def run(args: Any, client: Client) -> int:
    """A URL is handed to the daemon as docker does (``fromSrc=URL``); a file or stdin is sent."""
    params = {"repo": args.reference or None, "message": args.message or None}
    query = "&".join(f"changes={quote(c)}" for c in args.change or [])
    is_url = args.source.startswith(("http://", "https://"))
    source: BinaryIO | None = None
    if args.source == "-":
        source = sys.stdin.buffer
    elif not is_url:
        try:
            source = open(args.source, "rb")
        except OSError as e:
            raise CommandError(f"open {args.source}: {(e.strerror or str(e)).lower()}") from None
    params["fromSrc"] = args.source if is_url else "-"
    path = f"/images/create{encode_query(params)}" + (f"&{query}" if query else "")
    try:
        resp = client.request("POST", path, body=chunks(source) if source else None,
                              headers={"Content-Type": "application/x-tar"}, stream=True)
    finally:
        if source is not None and source is not sys.stdin.buffer:
            source.close()
    print_statuses(resp)
    return 0


def print_statuses(resp: Any) -> None:
    """An import's answer: its status lines (the image ID), or its error (exit 1)."""
    for message in resp.iter_json():
        if "error" in message:
            raise CommandError(message["error"])
        if message.get("status"):
            sys.stdout.write(message["status"] + "\n")

