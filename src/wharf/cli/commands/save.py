"""``wharf save`` / ``wharf image save``: images as a tar archive (Docker's format and an OCI layout)."""

from __future__ import annotations

import os
import sys
from typing import Any

from wharf.cli.errors import CommandError
from wharf.client.http import Client, quote

USAGE = "[OPTIONS] IMAGE [IMAGE...]"
ALIASES = "wharf image save, wharf save"
TERMINAL = "Cowardly refusing to save to a terminal. Use the -o flag or redirect"


def add_arguments(parser: Any) -> None:
    parser.add_argument("-o", "--output", default="", help="Write to a file, instead of STDOUT")
    parser.add_argument("images", nargs="+", metavar="IMAGE")


def run(args: Any, client: Client) -> int:
    if not args.output and sys.stdout.isatty():
        raise CommandError(TERMINAL)
    query = "&".join(f"names={quote(name)}" for name in args.images)
    resp = client.request("GET", f"/images/get?{query}", stream=True)
    write_body(resp, args.output)
    return 0


def write_body(resp: Any, output: str) -> None:
    """The body to ``output`` (written beside it, renamed when whole) or to stdout."""
    if not output:
        out = sys.stdout.buffer
        for chunk in resp.iter_chunks():
            out.write(chunk)
        out.flush()
        return
    tmp = f"{output}.wharf-tmp-{os.getpid()}"
    try:
        with open(tmp, "wb") as f:
            for chunk in resp.iter_chunks():
                f.write(chunk)
        os.rename(tmp, output)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
