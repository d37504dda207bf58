"""Per-registry pull hosts from containerd's ``hosts.toml`` (``certs.d/<registry>/hosts.toml``).

containerd's format: each ``[host."<scheme>://<host[:port]>"]`` is a mirror,
tried in file order for the operations its ``capabilities`` list (all when
absent); ``server`` is the registry itself, tried last (``https://<registry>``
when absent). wharfd reads the file of a pull's registry at each pull
(``--certs-dir``), so a change needs no restart; a registry without one is
pulled as before. A host (or the file's top level, for ``server``) may say
how it is reached over TLS, with containerd's keys: ``ca`` (a file or a
list; relative to the file's directory), ``client`` (a file holding cert and
key, a list of them, or a list of [cert, key] pairs) and ``skip_verify``.
A host without them is reached with Docker's files in its own
``certs.d/<host:port>/`` (``certs``).
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import replace
from typing import Any

from wharf.errors import InvalidParameter
from wharf.registry.client.certs import HostTLS
from wharf.registry.client.endpoints import Endpoint, endpoint_of, registry_host


def pull_hosts(certs_dir: str, domain: str) -> list[Endpoint] | None:
    """Where to pull ``domain``'s references from, in order; None when no hosts.toml names any."""
    if not certs_dir:
        return None
    path = os.path.join(certs_dir, domain, "hosts.toml")
    try:
        with open(path, "rb") as f:
            doc = tomllib.load(f)
    except FileNotFoundError:
        return None
    except (OSError, tomllib.TOMLDecodeError) as e:
        raise InvalidParameter(f"{path}: {e}") from None
    base = os.path.dirname(path)
    try:
        out = [replace(endpoint_of(url, mirror=True), tls=_tls(host, base))
               for url, host in (doc.get("host") or {}).items()
               if "pull" in (host.get("capabilities") or ["pull"])]
        server = doc.get("server")
        last = replace(endpoint_of(server, mirror=False) if server else Endpoint(registry_host(domain)),
                       tls=_tls(doc, base))
    except ValueError as e:
        raise InvalidParameter(f"{path}: {e}") from None
    return [e for e in out if e.host != last.host or e.scheme != last.scheme] + [last]


def _tls(table: dict[str, Any], base: str) -> HostTLS | None:
    """A host's ``ca``, ``client`` and ``skip_verify`` (containerd's forms and words); None
    when it names none of them."""
    ca, client, skip = table.get("ca"), table.get("client"), table.get("skip_verify")
    if ca is None and client is None and skip is None:
        return None
    if isinstance(ca, str):
        ca = [ca]
    if not (ca is None or (isinstance(ca, list) and all(isinstance(c, str) for c in ca))):
        raise ValueError(f'invalid type {ca!r} for "ca"')
    if not (client is None or isinstance(client, (str, list))):
        raise ValueError(f'invalid type {client!r} for "client"')
    pairs = []
    for pair in [client] if isinstance(client, str) else client or []:
        if isinstance(pair, str):
            pair = [pair, ""]
        if not (isinstance(pair, list) and len(pair) == 2 and all(isinstance(p, str) for p in pair)):
            raise ValueError(f'invalid pair {pair!r} for "client"')
        pairs.append((os.path.join(base, pair[0]), pair[1] and os.path.join(base, pair[1])))
    if skip is not None and not isinstance(skip, bool):
        raise ValueError(f'invalid type {skip!r} for "skip_verify"')
    return HostTLS(tuple(os.path.join(base, c) for c in ca or ()), tuple(pairs), skip)
