"""``wharf pull``: pull an image (or a repository's every tag) through the daemon.

The daemon streams Docker's JSON progress messages; ``render`` draws them
as docker does: on a terminal one line per layer, redrawn in place with its
progress bar; elsewhere only the status changes, one line each. Push uses
the same renderer.
"""

from __future__ import annotations

import os
import sys
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, TextIO

from wharf.cli.errors import CommandError

USAGE = "[OPTIONS] NAME[:TAG|@DIGEST]"
ALIASES = "wharf image pull, wharf pull"


def add_arguments(parser: Any) -> None:
    parser.add_argument("-a", "--all-tags", action="store_true", help="Download all tagged images in the repository")
    parser.add_argument("--platform", default="", help="Set platform if server is multi-platform capable")
    parser.add_argument("-q", "--quiet", action="store_true", help="Suppress verbose output")
    parser.add_argument("--disable-content-trust", action="store_true", default=True,
                        help="Skip image verification")
    parser.add_argument("name", metavar="NAME[:TAG|@DIGEST]")


def split_reference(name: str) -> tuple[str, str]:
    """(repository, tag or digest); the tag is "" when the name has none."""
    if "@" in name:
        repo, _, digest = name.partition("@")
        return repo, digest
    head, sep, tail = name.rpartition(":")
    if sep and "/" not in tail:
        return head, tail
    return name, ""


def full_name(repo: str, tag: str) -> str:
    """``docker.io/library/busybox:latest``: the fully qualified reference docker prints."""
    first, sep, rest = repo.partition("/")
    if not (sep and ("." in first or ":" in first or first == "localhost")):
        repo = "docker.io/" + (repo if "/" in repo else "library/" + repo)
    return f"{repo}{'@' if tag.startswith('sha256:') else ':'}{tag}" if tag else repo


def auth_header(image: str) -> dict[str, str]:
    from wharf.cli import credentials
    try:
        auth = credentials.get(credentials.registry_of(image))
    except credentials.CredentialsError as err:
        raise CommandError(str(err)) from None
    return {"X-Registry-Auth": credentials.header(auth)}


def run(args: Any, client: Any) -> int:
    repo, tag = split_reference(args.name)
    if args.all_tags and tag:
        raise CommandError("tag can't be used with --all-tags/-a")
    if not tag and not args.all_tags:
        tag = "latest"
        if not args.quiet:
            sys.stdout.write("Using default tag: latest\n")
    resp = client.request("POST", "/images/create",
                          {"fromImage": repo, "tag": tag or None, "platform": args.platform or None},
                          headers=auth_header(repo), stream=True)
    render(resp, open(os.devnull, "w") if args.quiet else sys.stdout)
    sys.stdout.write(full_name(repo, tag) + "\n")
    return 0


def render(resp: Any, out: TextIO) -> None:
    """Draw a progress stream; its error message ends the command (exit 1)."""
    tty = out.isatty()
    lines: list[str] = []  # ids with a line of their own, top to bottom
    try:
        for msg in resp.iter_json():
            if msg.get("error"):
                raise CommandError(msg["error"])
            text = status_line(msg)
            if text is None or (not tty and msg.get("progressDetail", {}).get("total")):
                continue
            ident = msg.get("id")
            if not tty or not ident:
                out.write(text + "\n")
            elif ident in lines:
                up = len(lines) - lines.index(ident)
                out.write(f"\x1b[{up}A\r\x1b[2K{text}\x1b[{up}B\r")
            else:
                lines.append(ident)
                out.write(text + "\n")
            out.flush()
    finally:
        resp.close()


def status_line(msg: dict[str, Any]) -> str | None:
    """``id: status progress`` of a progress message; None for other messages."""
    status = msg.get("status")
    if not status:
        return None
    prefix = f"{msg['id']}: " if msg.get("id") else ""
    progress = msg.get("progress")
    return f"{prefix}{status} {progress}" if progress else f"{prefix}{status}"
