"""Docker's legacy links (``--link name:alias``, ``HostConfig.Links``).

On the default bridge a link gives the parent environment variables naming
the child's address, ports and environment (moby's ``daemon/links``), and
hosts entries (``NetworkService``); on a user-defined network it is an alias
the embedded DNS answers. ``DELETE /containers/{parent}/{alias}?link=1``
removes one.
"""

from __future__ import annotations

from typing import Any


def parse(link: str) -> tuple[str, str]:
    """(child name, alias) of a ``name[:alias]`` entry; the alias defaults to the name,
    and a full link name (``/parent/alias``) counts by its last part."""
    target, _, alias = link.partition(":")
    target = target.lstrip("/")
    return target, alias.rsplit("/", 1)[-1] or target


def _ports(exposed: dict[str, Any]) -> list[tuple[int, str]]:
    """(port, proto) sorted as moby's link does: by number, tcp first on a tie."""
    out = []
    for key in exposed or {}:
        port, _, proto = key.partition("/")
        if port.isdigit():
            out.append((int(port), (proto or "tcp").lower()))
    return sorted(out, key=lambda p: (p[0], p[1] != "tcp"))


def env(link_name: str, ip: str, child_config: dict[str, Any]) -> list[str]:
    """The variables a link named ``link_name`` (``/parent/alias``) to a child at ``ip``
    gives its parent: ``ALIAS_PORT``, ``ALIAS_PORT_<n>_<PROTO>[_ADDR|_PORT|_PROTO]``,
    ``ALIAS_NAME`` and ``ALIAS_ENV_<key>`` (the child's env but HOME and PATH)."""
    alias = link_name.rsplit("/", 1)[-1].upper().replace("-", "_")
    host = f"[{ip}]" if ":" in ip else ip
    ports = _ports(child_config.get("ExposedPorts") or {})
    out = []
    if ports:
        port, proto = ports[0]
        out.append(f"{alias}_PORT={proto}://{host}:{port}")
    for port, proto in ports:
        prefix = f"{alias}_PORT_{port}_{proto.upper()}"
        out += [f"{prefix}={proto}://{host}:{port}", f"{prefix}_ADDR={ip}",
                f"{prefix}_PORT={port}", f"{prefix}_PROTO={proto}"]
    out.append(f"{alias}_NAME={link_name}")
    for item in child_config.get("Env") or []:
        key, sep, value = item.partition("=")
        if sep and key not in ("HOME", "PATH"):
            out.append(f"{alias}_ENV_{key}={value}")
    return out
