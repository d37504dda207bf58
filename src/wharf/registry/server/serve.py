"""Run the registry app on one address, with TLS when certificate files are given (and,
with a CA file, only for clients that show a certificate that CA signed)."""

from __future__ import annotations

import logging
import ssl
import sys

from aiohttp import web

from wharf.registry.server.app import ServerConfig, make_app

__all__ = ["ServerConfig", "serve", "server_context"]


def server_context(tls_cert: str | None, tls_key: str | None,
                   tls_ca: str | None = None) -> ssl.SSLContext | None:
    """TLS with ``tls_cert``/``tls_key`` (None without them); with ``tls_ca``, a client must
    show a certificate that CA signed (a registry behind mutual TLS, as certs.d's client pairs meet)."""
    if not (tls_cert and tls_key):
        return None
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(tls_cert, tls_key)
    if tls_ca:
        context.load_verify_locations(tls_ca)
        context.verify_mode = ssl.CERT_REQUIRED
    return context


def serve(config: ServerConfig, host: str, port: int, tls_cert: str | None = None,
          tls_key: str | None = None, tls_ca: str | None = None) -> None:
    """Serve until SIGINT/SIGTERM. Prints one ``listening on`` line once the socket is bound."""
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(message)s")
    context = server_context(tls_cert, tls_key, tls_ca)
    scheme = "https" if context else "http"
    web.run_app(make_app(config), host=host, port=port, ssl_context=context, access_log=None,
                print=lambda _: sys.stderr.write(f"wharf registry listening on {scheme}://{host}:{port}\n"),
                handle_signals=True)
