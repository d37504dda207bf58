"""``wharf context inspect``: contexts as the docker CLI's JSON (the current one by default)."""

from __future__ import annotations

import os
import sys
TYPE_CHECKING = False  # typing costs the CLI ~6 ms of import time
if TYPE_CHECKING:
    from typing import Any

    from wharf.client.http import Client

from wharf.cli import contexts
from wharf.cli.errors import CommandError

USAGE = "[OPTIONS] [CONTEXT] [CONTEXT...]"


def add_arguments(parser: Any) -> None:
    parser.add_argument("-f", "--format", default="", help="Format output using a custom template")
    parser.add_argument("names", nargs="*", metavar="CONTEXT")


def view(name: str) -> dict[str, Any]:
    """One context as ``docker context inspect`` shows it."""
    meta = contexts.get(name)
    tls = contexts.tls_dir(name) if name != contexts.DEFAULT else ""
    files = os.listdir(os.path.join(tls, "docker")) if tls and os.path.isdir(
        os.path.join(tls, "docker")) else []
    return {**meta, "TLSMaterial": {"docker": sorted(files)} if files else {},
            "Storage": {"MetadataPath": contexts.meta_dir(name) if tls else "<IN MEMORY>",
                        "TLSPath": tls or "<IN MEMORY>"}}


def run(args: Any, client: Client) -> int:
    import json
    try:
        found = [view(n) for n in args.names or [contexts.resolve(None, None)]]
    except contexts.ContextError as e:
        raise CommandError(str(e), 1) from None
    if args.format:
        from wharf.cli.format import Template, expand_escapes
        template = Template(expand_escapes(args.format))
        sys.stdout.write("".join(template.render(c) + "\n" for c in found))
    else:
        sys.stdout.write(json.dumps(found, indent=4) + "\n")
    return 0
