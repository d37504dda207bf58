"""The docker CLI's TLS settings: ``--tls``, ``--tlsverify``, ``--tlscacert``,
``--tlscert``, ``--tlskey``, and ``DOCKER_TLS_VERIFY``/``DOCKER_CERT_PATH``.

As in docker: ``--tlsverify`` (or a non-empty ``DOCKER_TLS_VERIFY``) checks
the daemon's certificate against the CA; the client presents its own
cert/key when they exist; the files default to ``ca.pem``, ``cert.pem``
and ``key.pem`` in ``DOCKER_CERT_PATH`` (``~/.docker``). ``ssl`` is imported
only when TLS is on, so a plain run pays nothing.
"""

from __future__ import annotations

import os
TYPE_CHECKING = False
if TYPE_CHECKING:
    import ssl


def cert_dir() -> str:
    return os.environ.get("DOCKER_CERT_PATH") or os.path.join(os.path.expanduser("~"), ".docker")


def context(tls: bool = False, verify: bool | None = None, ca: str = "", cert: str = "",
            key: str = "") -> ssl.SSLContext | None:
    """The client context for these flags (None when TLS is off)."""
    if verify is None:
        verify = bool(os.environ.get("DOCKER_TLS_VERIFY"))
    if not (tls or verify or ca or cert or key):
        return None
    import ssl
    base = cert_dir()
    ca = ca or os.path.join(base, "ca.pem")
    cert = cert or os.path.join(base, "cert.pem")
    key = key or os.path.join(base, "key.pem")
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    if verify:
        ctx.load_verify_locations(ca)
    else:
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    if os.path.exists(cert) and os.path.exists(key):
        ctx.load_cert_chain(cert, key)
    return ctx
