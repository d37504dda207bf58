"""Run the registry app on one address, with TLS when certificate files are given."""

from __future__ import annotations

import logging
import ssl
import sys

from aiohttp import web

from wharf.registry.server.app import ServerConfig, make_app

__all__ = ["ServerConfig", "serve"]


def serve(config: ServerConfig, host: str, port: int, tls_cert: str | None = None,
          tls_key: str | None = None) -> None:
    """Serve until SIGINT/SIGTERM. Prints one ``listening on`` line once the socket is bound."""
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(message)s")
    context = None
    if tls_cert and tls_key:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(tls_cert, tls_key)
    scheme = "https" if context else "http"
    web.run_app(make_app(config), host=host, port=port, ssl_context=context, access_log=None,
                print=lambda _: sys.stderr.write(f"wharf registry listening on {scheme}://{host}:{port}\n"),
                handle_signals=True)
