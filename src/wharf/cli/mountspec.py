"""``--mount type=…,source=…,target=…``: docker's CSV mount syntax → a ``HostConfig.Mounts`` entry.

Used as the flag's type, so a bad spec fails while parsing the command line
with docker's ``invalid argument "…" for "--mount" flag: …``.
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

from wharf.cli.units import ram_in_bytes

_BOOL_KEYS = ("readonly", "ro", "volume-nocopy", "bind-nonrecursive")
_TRUE = ("1", "t", "true", "yes", "")
_FALSE = ("0", "f", "false", "no")


def _bool(key: str, value: str) -> bool:
    if value.lower() in _TRUE:
        return True
    if value.lower() in _FALSE:
        return False
    raise ValueError(f"invalid value for {key}: {value}")


def _pairs(spec: str) -> list[tuple[str, str]]:
    import csv  # (imports re) only when --mount is given
    fields = next(csv.reader([spec]), [])
    out = []
    for field in fields:
        key, eq, value = field.partition("=")
        key = key.strip().lower()
        if not eq and key not in _BOOL_KEYS:
            raise ValueError(f"invalid field '{field}' must be a key=value pair")
        out.append((key, value))
    return out


def mount_spec(spec: str) -> dict[str, Any]:
    """One ``--mount`` value; the type defaults to ``volume`` as in docker."""
    mount: dict[str, Any] = {"Type": "volume"}
    bind: dict[str, Any] = {}
    volume: dict[str, Any] = {}
    tmpfs: dict[str, Any] = {}
    for key, value in _pairs(spec):
        if key == "type":
            mount["Type"] = value
        elif key in ("source", "src"):
            mount["Source"] = value
        elif key in ("target", "dst", "destination"):
            mount["Target"] = value
        elif key in ("readonly", "ro"):
            mount["ReadOnly"] = _bool(key, value)
        elif key == "consistency":
            mount["Consistency"] = value
        elif key == "bind-propagation":
            bind["Propagation"] = value
        elif key == "bind-nonrecursive":
            bind["NonRecursive"] = _bool(key, value)
        elif key == "volume-nocopy":
            volume["NoCopy"] = _bool(key, value)
        elif key == "volume-label":
            name, _, val = value.partition("=")
            volume.setdefault("Labels", {})[name] = val
        elif key == "volume-driver":
            volume.setdefault("DriverConfig", {})["Name"] = value
        elif key == "volume-opt":
            name, _, val = value.partition("=")
            volume.setdefault("DriverConfig", {}).setdefault("Options", {})[name] = val
        elif key == "tmpfs-size":
            tmpfs["SizeBytes"] = ram_in_bytes(value)
        elif key == "tmpfs-mode":
            try:
                tmpfs["Mode"] = int(value, 8)
            except ValueError:
                raise ValueError(f"invalid value for {key}: {value}") from None
        else:
            raise ValueError(f"unexpected key '{key}' in '{key}={value}'")
    if not mount.get("Target"):
        raise ValueError("target is required")
    kind = mount["Type"]
    for name, options, owner in (("bind", bind, "BindOptions"), ("volume", volume, "VolumeOptions"),
                                 ("tmpfs", tmpfs, "TmpfsOptions")):
        if options and kind != name:
            raise ValueError(f"cannot mix '{name}-*' options with mount type '{kind}'")
        if options:
            mount[owner] = options
    return mount
