"""``wharf registry serve --tls-cert --tls-key [--tls-ca]``: the server's TLS context, and
the flags' checks."""

from __future__ import annotations

import ssl
from argparse import Namespace
from pathlib import Path

import pytest

from support.pki import make_pki
from wharf.cli.commands import registry
from wharf.cli.errors import CommandError
from wharf.registry.server.serve import server_context


def test_client_certificates_are_asked_for_only_with_a_ca(tmp_path: Path) -> None:
    pki = make_pki(tmp_path)
    assert server_context(None, None, str(pki.ca)) is None
    plain = server_context(str(pki.server_cert), str(pki.server_key))
    assert plain is not None and plain.verify_mode == ssl.CERT_NONE
    mutual = server_context(str(pki.server_cert), str(pki.server_key), str(pki.ca))
    assert mutual is not None and mutual.verify_mode == ssl.CERT_REQUIRED
    assert [c["subject"] for c in mutual.get_ca_certs()] == [((("commonName", "wharf-test-ca"),),)]


def test_tls_ca_needs_the_servers_own_pair(tmp_path: Path) -> None:
    args = Namespace(action="serve", addr="127.0.0.1:0", root=str(tmp_path), htpasswd=None, token_realm=None,
                     token_service="wharf-registry", tls_cert=None, tls_key=None, tls_ca="ca.pem")
    with pytest.raises(CommandError, match="--tls-ca needs --tls-cert and --tls-key"):
        registry.run(args, None)
