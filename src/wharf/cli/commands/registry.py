"""``wharf registry serve|gc``: run wharf's own registry server, or sweep its unreferenced blobs.

Neither needs a daemon (``client`` is unused). The server's modules (aiohttp,
bcrypt) are imported only here, when one of these runs.
"""

from __future__ import annotations

import os
import sys
from typing import Any

from wharf.cli.errors import CommandError

USAGE = "serve|gc [OPTIONS]"
ACTIONS = ("serve", "gc")


def add_arguments(parser: Any) -> None:
    parser.add_argument("action", metavar="COMMAND")
    parser.add_argument("--addr", default="127.0.0.1:5000", help="serve: address to listen on (host:port)")
    parser.add_argument("--root", default="/var/lib/wharf/registry", help="Directory of the registry's storage")
    parser.add_argument("--htpasswd", help="serve: htpasswd file (bcrypt) of the users allowed in")
    parser.add_argument("--token-realm", help="serve: Bearer token mode; the URL of this server's token endpoint")
    parser.add_argument("--token-service", default="wharf-registry", help="serve: service name in tokens")
    parser.add_argument("--tls-cert", help="serve: TLS certificate file (PEM)")
    parser.add_argument("--tls-key", help="serve: TLS private key file (PEM)")
    parser.add_argument("--tls-ca", help="serve: require client certificates signed by this CA (PEM)")
    parser.add_argument("--dry-run", action="store_true", help="gc: only list the blobs that would be deleted")


def run(args: Any, client: Any) -> int:
    if args.action not in ACTIONS:
        raise CommandError(f"wharf: 'registry {args.action}' is not a wharf command.\n"
                           "See 'wharf registry --help'")
    return serve(args) if args.action == "serve" else gc(args)


def serve(args: Any) -> int:
    host, sep, port = args.addr.rpartition(":")
    if not sep or not port.isdigit():
        raise CommandError(f"invalid --addr {args.addr!r}: want host:port", status=125)
    if bool(args.tls_cert) != bool(args.tls_key):
        raise CommandError("--tls-cert and --tls-key go together", status=125)
    if args.tls_ca and not args.tls_cert:
        raise CommandError("--tls-ca needs --tls-cert and --tls-key", status=125)
    from wharf.registry.server.serve import ServerConfig, serve as run_server
    config = ServerConfig(root=args.root, htpasswd=args.htpasswd, token_realm=args.token_realm,
                          token_service=args.token_service)
    try:
        run_server(config, host.strip("[]") or "0.0.0.0", int(port), args.tls_cert, args.tls_key,
                   args.tls_ca)
    except OSError as err:      # unreadable htpasswd or certificate, address in use
        raise CommandError(f"wharf registry serve: {err}") from None
    return 0


def gc(args: Any) -> int:
    if not os.path.isdir(args.root):
        raise CommandError(f"wharf registry gc: no registry storage at {args.root}")
    from wharf.registry.server.gc import collect, stale_uploads
    kept, sweep = collect(args.root, dry_run=args.dry_run)
    for digest in sweep:
        sys.stdout.write(f"blob eligible for deletion: {digest}\n")
    for upload_id in stale_uploads(args.root, dry_run=args.dry_run):
        sys.stdout.write(f"stale upload eligible for deletion: {upload_id}\n")
    sys.stdout.write(f"{kept} blobs marked, {len(sweep)} blobs eligible for deletion"
                     f"{' (dry run: nothing deleted)' if args.dry_run else ''}\n")
    return 0
