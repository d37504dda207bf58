"""``wharf context create``: store an endpoint in the docker CLI's context store."""

from __future__ import annotations

import sys
TYPE_CHECKING = False  # typing costs the CLI ~6 ms of import time
if TYPE_CHECKING:
    from typing import Any

    from wharf.client.http import Client

from wharf.cli import contexts
from wharf.cli.errors import CommandError

USAGE = "[OPTIONS] CONTEXT"
#: --docker's keys → the files of the context's TLS material
TLS_KEYS = {"ca": "ca.pem", "cert": "cert.pem", "key": "key.pem"}


def add_arguments(parser: Any) -> None:
    parser.add_argument("--description", default="", help="Description of the context")
    parser.add_argument("--docker", default="", metavar="stringToString",
                        help="set the docker endpoint (host=, ca=, cert=, key=, skip-tls-verify=)")
    parser.add_argument("--from", dest="from_", default="",
                        help="create context from a named context")
    parser.add_argument("name", metavar="CONTEXT")


def run(args: Any, client: Client) -> int:
    fields = dict(part.split("=", 1) for part in args.docker.split(",") if "=" in part)
    unknown = set(fields) - {"host", "skip-tls-verify", *TLS_KEYS}
    if unknown:
        raise CommandError(f"unable to create docker endpoint config: unrecognized config key: "
                           f"{sorted(unknown)[0]}", 1)
    try:
        if args.from_ or not args.docker:  # a copy of another context (default: the current)
            source = contexts.get(args.from_ or contexts.resolve(None, None))
            host = fields.get("host") or source["Endpoints"]["docker"]["Host"]
        else:
            host = fields.get("host") or contexts.default_host()
        contexts.create(args.name, args.description, host,
                        fields.get("skip-tls-verify", "false") == "true",
                        {TLS_KEYS[k]: v for k, v in fields.items() if k in TLS_KEYS})
    except (contexts.ContextError, OSError) as e:
        raise CommandError(str(e), 1) from None
    sys.stdout.write(f"{args.name}\n")
    sys.stderr.write(f'Successfully created context "{args.name}"\n')
    return 0
