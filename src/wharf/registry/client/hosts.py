"""Per-registry pull hosts from containerd's ``hosts.toml`` (``certs.d/<registry>/hosts.toml``).

containerd's format: each ``[host."<scheme>://<host[:port]>"]`` is a mirror,
tried in file order for the operations its ``capabilities`` list (all when
absent); ``server`` is the registry itself, tried last (``https://<registry>``
when absent). wharfd reads the file of a pull's registry at each pull
(``--certs-dir``), so a change needs no restart; a registry without one is
pulled as before. The same directory keeps Docker's ``ca.crt``,
``client.cert``, ``client.key`` per registry.
"""

from __future__ import annotations

import os
import tomllib

from wharf.errors import InvalidParameter
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
    out = [endpoint_of(url, mirror=True) for url, host in (doc.get("host") or {}).items()
           if "pull" in (host.get("capabilities") or ["pull"])]
    server = doc.get("server")
    last = endpoint_of(server, mirror=False) if server else Endpoint(registry_host(domain))
    return [e for e in out if e.host != last.host or e.scheme != last.scheme] + [last]
