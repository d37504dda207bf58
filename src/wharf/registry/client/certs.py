"""Per-registry TLS: Docker's ``certs.d/<host:port>/`` files and hosts.toml's TLS keys.

dockerd reads ``<certs-dir>/<host:port>/`` at each operation on a secure
registry (moby ``loadTLSConfig``): every ``*.crt`` is an extra root, added to
the system's; every ``*.cert`` with the ``*.key`` of the same name is a
client certificate; a ``.cert`` without its ``.key`` (or the reverse) is the
operation's error, in dockerd's words. containerd's hosts.toml may instead
give a host ``ca``, ``client`` and ``skip_verify`` (``hosts``); those win
over the files.

``reach`` decides, per host, how it is reached. A registry listed in
``--insecure-registry`` is dockerd's: HTTPS without checks, then HTTP, its
files unread. A loopback registry is insecure by default too (dockerd's
stop-gap for a local registry), unless its directory holds TLS files: then
it is checked with them, HTTPS only, and its client certificate is sent
(dockerd never reads a loopback registry's files).

Building a context reads the system roots (~40 ms of CPU), so contexts are
kept per set of files, keyed by their paths and stat: an edited file makes
a new one, at the next operation, with no restart.
"""

from __future__ import annotations

import functools
import os
import ssl
from dataclasses import dataclass

from wharf.errors import InvalidParameter
from wharf.registry.client.endpoints import Endpoint, Policy, host_name


@dataclass(frozen=True)
class HostTLS:
    """The TLS material one registry host is reached with."""

    #: extra roots, added to the system's
    roots: tuple[str, ...] = ()
    #: client certificates: (cert, key) files; key "" when the cert file holds both
    pairs: tuple[tuple[str, str], ...] = ()
    #: hosts.toml's ``skip_verify``; None: not said
    skip_verify: bool | None = None

    def __bool__(self) -> bool:
        return bool(self.roots or self.pairs) or self.skip_verify is not None


@dataclass(frozen=True)
class Reach:
    """How one operation reaches one host: schemes to try in order, and aiohttp's ``ssl``
    (True: the default checks; False: no checks; a context of the host's own)."""

    schemes: tuple[str, ...]
    ssl: ssl.SSLContext | bool


def read_certs_dir(directory: str) -> HostTLS:
    """Docker's files in ``directory`` (none when it is missing), in name order as dockerd
    lists them; InvalidParameter with dockerd's words for a half client pair."""
    try:
        names = sorted(os.listdir(directory))
    except FileNotFoundError:
        return HostTLS()
    except OSError as e:
        raise InvalidParameter(f"open {directory}: {os.strerror(e.errno or 0).lower()}") from None
    roots, pairs = [], []
    for name in names:
        stem, ext = os.path.splitext(name)
        if ext == ".crt":
            roots.append(os.path.join(directory, name))
        elif ext == ".cert":
            if stem + ".key" not in names:
                raise InvalidParameter(f"missing key {stem}.key for client certificate {name}. "
                                       "CA certificates must use the extension .crt")
            pairs.append((os.path.join(directory, name), os.path.join(directory, stem + ".key")))
        elif ext == ".key" and stem + ".cert" not in names:
            raise InvalidParameter(f"missing client certificate {stem}.cert for key {name}")
    return HostTLS(tuple(roots), tuple(pairs))


def reach(certs_dir: str, endpoint: Endpoint, policy: Policy) -> Reach:
    """How to reach ``endpoint`` now: its hosts.toml TLS, else its certs.d files, and the
    insecure-registries policy (see the module's docstring)."""
    host = endpoint.host
    listed = policy.listed(host)
    tls = endpoint.tls or (HostTLS() if listed or not certs_dir
                           else read_certs_dir(os.path.join(certs_dir, host)))
    verify = not tls.skip_verify if tls.skip_verify is not None else bool(tls) or not policy.insecure(host)
    if endpoint.scheme:
        schemes: tuple[str, ...] = (endpoint.scheme,)
    else:
        schemes = ("https",) if verify else policy.schemes(host)
    if not tls:
        return Reach(schemes, verify)
    return Reach(schemes, _context(tls.roots, tls.pairs[:1], verify, _stat(tls)))


def _stat(tls: HostTLS) -> tuple[tuple[int, int, int], ...]:
    """What changes when any of ``tls``'s files does (a missing one: the context's error)."""
    out = []
    for path in (*tls.roots, *(p for pair in tls.pairs[:1] for p in pair if p)):
        try:
            st = os.stat(path)
        except OSError:
            continue
        out.append((st.st_ino, st.st_size, st.st_mtime_ns))
    return tuple(out)


@functools.lru_cache(maxsize=32)
def _context(roots: tuple[str, ...], pairs: tuple[tuple[str, str], ...], verify: bool,
             _stat: tuple[tuple[int, int, int], ...]) -> ssl.SSLContext:
    """The system's roots plus ``roots``, the first client pair (OpenSSL sends one; Go would
    pick among several by the server's request), TLS 1.2 at least, as dockerd's client."""
    ctx = ssl.create_default_context()
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    if not verify:
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    for path in roots:
        try:
            with open(path, encoding="latin-1") as f:
                ctx.load_verify_locations(cadata=f.read())
        except ssl.SSLError:
            continue  # dockerd's AppendCertsFromPEM skips what is not a PEM certificate
        except OSError as e:
            raise InvalidParameter(f"unable to read CA cert {path}: {e.strerror}") from None
    for cert, key in pairs:
        try:
            ctx.load_cert_chain(cert, key or None)
        except OSError as e:  # ssl.SSLError is an OSError
            raise InvalidParameter(f"failed to load X509 key pair {cert}: "
                                   f"{e.strerror or getattr(e, 'reason', None) or e}") from None
    return ctx


#: OpenSSL's verify codes Go words as "certificate signed by unknown authority"
_UNKNOWN_AUTHORITY = {2, 18, 19, 20, 21}
_EXPIRED = {9, 10}
_NAME_MISMATCH = {62, 64}


def tls_words(error: ssl.SSLError, host: str) -> str:
    """A TLS failure as Go's client words it (``tls: failed to verify certificate: x509:
    certificate signed by unknown authority``, ``remote error: tls: bad certificate``)."""
    if isinstance(error, ssl.SSLCertVerificationError):
        code = error.verify_code
        why = ("certificate signed by unknown authority" if code in _UNKNOWN_AUTHORITY else
               "certificate has expired or is not yet valid" if code in _EXPIRED else
               f"certificate is not valid for {host_name(host)}" if code in _NAME_MISMATCH else
               str(error.verify_message))
        return f"tls: failed to verify certificate: x509: {why}"
    reason = str(error.reason or "")
    if "_ALERT_" in reason:
        alert = reason.split("_ALERT_", 1)[1].lower().replace("_", " ")
        return "remote error: tls: " + {"unknown ca": "unknown certificate authority"}.get(alert, alert)
    return f"tls: {reason.lower().replace('_', ' ') or error}"
