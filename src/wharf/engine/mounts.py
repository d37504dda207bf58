"""``-v``, ``--mount`` and ``--tmpfs``: the container's extra mounts.

Parsed once at create into Docker's inspect ``Mounts`` entries (kept in the
record), turned into OCI mounts at every start. Host paths only: named
volumes need a volume service, which wharf does not have yet, and are refused
with a clear 400 rather than silently ignored.
"""

from __future__ import annotations

import os
from typing import Any

from wharf.errors import InvalidParameter

_BIND_MODES = {"ro", "rw", "z", "Z", "private", "rprivate", "shared", "rshared", "slave",
               "rslave", "nocopy", "consistent", "cached", "delegated"}
_PROPAGATION = ("private", "rprivate", "shared", "rshared", "slave", "rslave")


def _bind(source: str, target: str, mode: str, create_source: bool) -> dict[str, Any]:
    if not os.path.isabs(target):
        raise InvalidParameter(f"invalid mount config: mount path must be absolute: {target}")
    if not os.path.isabs(source):
        raise InvalidParameter(f"invalid mount config: named volumes are not supported: {source}")
    if not create_source and not os.path.exists(source):
        raise InvalidParameter(f'invalid mount config for type "bind": bind source path does '
                               f"not exist: {source}")
    flags = [m for m in mode.split(",") if m]
    for flag in flags:
        if flag not in _BIND_MODES:
            raise InvalidParameter(f"invalid mode: {mode}")
    propagation = next((f for f in flags if f in _PROPAGATION), "rprivate")
    return {"Type": "bind", "Source": source, "Destination": target, "Mode": mode,
            "RW": "ro" not in flags, "Propagation": propagation}


def parse(host_config: dict[str, Any]) -> list[dict[str, Any]]:
    """The inspect ``Mounts`` of a create body's HostConfig (Binds, Mounts, Tmpfs)."""
    out: list[dict[str, Any]] = []
    for spec in host_config.get("Binds") or []:
        parts = spec.split(":")
        if len(parts) not in (2, 3):
            raise InvalidParameter(f"invalid volume specification: '{spec}'")
        out.append(_bind(parts[0], parts[1], parts[2] if len(parts) == 3 else "", True))
    for m in host_config.get("Mounts") or []:
        kind = m.get("Type")
        if kind == "bind":
            out.append(_bind(m.get("Source") or "", m.get("Target") or "",
                             "ro" if m.get("ReadOnly") else "", False))
        elif kind == "tmpfs":
            out.append({"Type": "tmpfs", "Source": "", "Destination": m.get("Target") or "",
                        "Mode": "", "RW": not m.get("ReadOnly"), "Propagation": ""})
        else:
            raise InvalidParameter(f"invalid mount config: mount type {kind!r} is not supported")
    for target, options in (host_config.get("Tmpfs") or {}).items():
        out.append({"Type": "tmpfs", "Source": "", "Destination": target, "Mode": options,
                    "RW": "ro" not in options.split(","), "Propagation": ""})
    targets = [m["Destination"] for m in out]
    for t in targets:
        if targets.count(t) > 1:
            raise InvalidParameter(f"Duplicate mount point: {t}")
    return out


def to_oci(mounts: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """OCI mounts; bind sources that vanished are made again (as ``-v`` does)."""
    out = []
    for m in mounts:
        ro = [] if m["RW"] else ["ro"]
        if m["Type"] == "bind":
            os.makedirs(m["Source"], exist_ok=True)
            out.append({"destination": m["Destination"], "type": "bind", "source": m["Source"],
                        "options": ["rbind", m["Propagation"] or "rprivate", *ro]})
        else:
            extra = [o for o in (m["Mode"] or "").split(",") if o and o not in ("ro", "rw")]
            out.append({"destination": m["Destination"], "type": "tmpfs", "source": "tmpfs",
                        "options": ["nosuid", "nodev", "noexec", *extra, *ro]})
    return out
