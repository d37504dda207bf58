"""``wharf load`` / ``wharf image load``: images from a tar archive (docker save's or an OCI layout)."""

from __future__ import annotations

import sys
from typing import Any, BinaryIO, Iterator

from wharf.cli.errors import CommandError
from wharf.client.http import Client

USAGE = "[OPTIONS]"
ALIASES = "wharf image load, wharf load"
CHUNK = 1 << 20


def add_arguments(parser: Any) -> None:
    parser.add_argument("-i", "--input", default="", help="Read from tar archive file, instead of STDIN")
    parser.add_argument("-q", "--quiet", action="store_true", help="Suppress the load output")


def chunks(f: BinaryIO) -> Iterator[bytes]:
    while data := f.read(CHUNK):
        yield data


def run(args: Any, client: Client) -> int:
    if args.input:
        try:
            source: BinaryIO = open(args.input, "rb")
        except OSError as e:
            raise CommandError(f"open {args.input}: {e.strerror.lower() if e.strerror else e}") from None
    else:
        if sys.stdin.isatty():
            raise CommandError("requested load from stdin, but stdin is empty")
        source = sys.stdin.buffer
    with source:
        resp = client.request("POST", "/images/load", {"quiet": args.quiet or None}, body=chunks(source),
                              headers={"Content-Type": "application/x-tar"}, stream=True)
    for message in resp.iter_json():
        if "error" in message:
            raise CommandError(message["error"])
        if message.get("stream"):
            sys.stdout.write(message["stream"])
    return 0
