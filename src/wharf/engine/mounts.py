"""``-v``, ``--mount``, ``--tmpfs``, ``VOLUME``: the container's mount points.

A create body is parsed once into mount points (Docker's ``MountPoints`` of
config.v2.json, kept in the record's private part): binds, volumes (by name,
or anonymous with the name still to be chosen), tmpfs, and images (later
APIs' ``Type: image``, an image's tree read-only; the CRI's image volumes).
``inspect`` turns a point into Docker's ``Mounts`` entry, ``to_oci`` the
points into OCI mounts at every start. Parsing is pure; volumes are created
by the VolumeService, image points resolved by ``wharf.engine.imagemounts``.
"""

from __future__ import annotations

import os
from typing import Any, Callable

from wharf.errors import InvalidParameter

_PROPAGATION = ("private", "rprivate", "shared", "rshared", "slave", "rslave")
_BIND_MODES = {"ro", "rw", "z", "Z", "nocopy", "consistent", "cached", "delegated",
               *_PROPAGATION}
Point = dict[str, Any]


def _invalid(kind: str, why: str) -> InvalidParameter:
    return InvalidParameter(f'invalid mount config for type "{kind}": {why}')


def _absolute(kind: str, path: str) -> None:
    if not path:
        raise _invalid(kind, "field Target must not be empty")
    if not os.path.isabs(path):
        raise _invalid(kind, f"invalid mount path: '{path}' mount path must be absolute")


def _point(kind: str, target: str, **fields: Any) -> Point:
    point: Point = {"Type": kind, "Source": "", "Name": "", "Destination": os.path.normpath(target),
                    "Driver": "", "Mode": "", "RW": True, "Propagation": "", "CopyData": False,
                    "Options": [], "VolumeOptions": {}}
    point.update(fields)
    return point


def _bind_spec(spec: str) -> Point:
    """One ``HostConfig.Binds`` entry: ``/host:/ctr[:mode]`` or ``name:/ctr[:mode]``."""
    parts = spec.split(":")
    if len(parts) not in (2, 3) or not parts[0]:
        raise InvalidParameter(f"invalid volume specification: '{spec}'")
    source, target, mode = parts[0], parts[1], parts[2] if len(parts) == 3 else ""
    kind = "bind" if os.path.isabs(source) else "volume"
    try:
        _absolute(kind, target)
    except InvalidParameter as e:
        raise InvalidParameter(f"invalid volume specification: '{spec}': {e.message}") from None
    flags = [m for m in mode.split(",") if m]
    if any(f not in _BIND_MODES for f in flags) or ("ro" in flags and "rw" in flags):
        raise InvalidParameter(f"invalid mode: {mode}")
    rw = "ro" not in flags
    if kind == "bind":
        propagation = next((f for f in flags if f in _PROPAGATION), "rprivate")
        return _point("bind", target, Source=source, Mode=mode, RW=rw, Propagation=propagation,
                      CreateSource=True)
    if any(f in _PROPAGATION for f in flags):
        raise InvalidParameter(f"invalid mode: {mode}")
    return _point("volume", target, Name=source, Driver="local", Mode=mode or "z", RW=rw,
                  CopyData="nocopy" not in flags)


def _tmpfs_options(size: int, mode: int) -> list[str]:
    out = []
    if size:
        out.append(f"size={size // 1024}k" if size % 1024 == 0 else f"size={size}")
    if mode:
        out.append(f"mode={mode:o}")
    return out


def _mount_spec(m: dict[str, Any]) -> Point:
    """One ``HostConfig.Mounts`` entry, checked as Docker's validateMountConfig does."""
    kind = m.get("Type") or ""
    source, target = m.get("Source") or "", m.get("Target") or ""
    rw = not m.get("ReadOnly")
    if kind == "bind":
        if not source:
            raise _invalid(kind, "field Source must not be empty")
        _absolute(kind, target)
        if not os.path.isabs(source):
            raise _invalid(kind, f"invalid mount path: '{source}' mount path must be absolute")
        options = m.get("BindOptions") or {}
        create = bool(options.get("CreateMountpoint"))  # API 1.42: made at start, as -v's
        if not create and not os.path.exists(source):
            raise _invalid(kind, f"bind source path does not exist: {source}")
        propagation = options.get("Propagation") or "rprivate"
        if propagation not in _PROPAGATION:
            raise _invalid(kind, f"invalid propagation mode: {propagation}")
        recursive_ro = bool(options.get("ReadOnlyForceRecursive"))  # API 1.44's
        if recursive_ro and rw:
            raise _invalid(kind, "option 'ReadOnlyForceRecursive' requires 'ReadOnly' to be true")
        if recursive_ro and propagation not in ("private", "rprivate"):
            raise _invalid(kind, "option 'ReadOnlyForceRecursive' requires 'Propagation' "
                                 "to be 'rprivate'")
        return _point("bind", target, Source=source, RW=rw, Propagation=propagation,
                      CreateSource=create, RecursiveReadOnly=recursive_ro)
    if kind == "image":  # API 1.48's: read-only, its Source resolved to the image's ID
        if not source:
            raise _invalid(kind, "field Source must not be empty")
        _absolute(kind, target)
        subpath = (m.get("ImageOptions") or {}).get("Subpath") or ""
        if os.path.isabs(subpath) or ".." in subpath.split("/"):
            raise _invalid(kind, "subpath must be a relative path within the image")
        return _point("image", target, Source=source, RW=False, Subpath=subpath)
    if kind == "volume":
        _absolute(kind, target)
        options = m.get("VolumeOptions") or {}
        driver = (options.get("DriverConfig") or {}).get("Name") or "local"
        if driver != "local":
            raise _invalid(kind, f'volume driver "{driver}" is not supported')
        return _point("volume", target, Name=source, Driver="local", RW=rw,
                      CopyData=not options.get("NoCopy"), VolumeOptions=options)
    if kind == "tmpfs":
        if source:
            raise _invalid(kind, "field Source must not be specified")
        _absolute(kind, target)
        t = m.get("TmpfsOptions") or {}
        if (t.get("SizeBytes") or 0) < 0:
            raise _invalid(kind, f"invalid tmpfs size: {t['SizeBytes']}")
        return _point("tmpfs", target, RW=rw,
                      Options=_tmpfs_options(t.get("SizeBytes") or 0, t.get("Mode") or 0))
    raise _invalid(kind, "mount type unknown")


def parse(host_config: dict[str, Any], volumes: list[str]) -> list[Point]:
    """Mount points of a create body: Binds, Mounts, then anonymous ``volumes`` not covered.

    ``volumes`` are the container paths of ``Config.Volumes`` and the image's
    ``VOLUME``s; a bind or named volume at the same path wins over them.
    """
    out = [_bind_spec(s) for s in host_config.get("Binds") or []]
    out += [_mount_spec(m) for m in host_config.get("Mounts") or []]
    targets = [p["Destination"] for p in out]
    for t in targets:
        if targets.count(t) > 1:
            raise InvalidParameter(f"Duplicate mount point: {t}")
    tmpfs = {os.path.normpath(t) for t in host_config.get("Tmpfs") or {}}
    for path in volumes:
        _absolute("volume", path)
        dest = os.path.normpath(path)
        if dest not in targets and dest not in tmpfs:
            targets.append(dest)
            out.append(_point("volume", dest, Driver="local", CopyData=True, Anonymous=True))
    return out


def merge_from(points: list[Point], other: list[Point], mode: str) -> list[Point]:
    """``--volumes-from other[:ro|rw]``: its binds and volumes at paths not already taken."""
    if mode not in ("", "ro", "rw"):
        raise InvalidParameter(f"invalid mode: {mode}")
    taken = {p["Destination"] for p in points}
    out = list(points)
    for p in other:
        if p["Type"] in ("tmpfs", "image") or p["Destination"] in taken:
            continue
        copy = {**p, "CopyData": False, "Anonymous": False}
        if mode:
            copy["RW"] = mode == "rw"
        out.append(copy)
    return out


def inspect(point: Point) -> dict[str, Any]:
    """Docker's ``Mounts`` entry of a mount point."""
    out = {"Type": point["Type"]}
    if point["Type"] == "volume":
        out["Name"] = point["Name"]
    out.update(Source=point["Source"], Destination=point["Destination"])
    if point["Type"] == "volume":
        out["Driver"] = point["Driver"]
    out.update(Mode=point["Mode"], RW=point["RW"], Propagation=point["Propagation"])
    return out


def _tmpfs(destination: str, options: list[str], rw: bool) -> dict[str, Any]:
    extra = [o for o in options if o and o not in ("ro", "rw")]
    return {"destination": destination, "type": "tmpfs", "source": "tmpfs",
            "options": ["nosuid", "nodev", "noexec", *extra, *([] if rw else ["ro"])]}


def root_propagation(points: list[Point]) -> str:
    """OCI ``rootfsPropagation``: rshared when a bind is shared (moby's rule: its mounts
    must reach the host), else the runtime's default (rslave)."""
    shared = any(p["Type"] == "bind" and p["Propagation"] in ("shared", "rshared")
                 for p in points)
    return "rshared" if shared else ""


def to_oci(points: list[Point], tmpfs: dict[str, str] | None,
           image_mount: Callable[[Point], dict[str, Any]] | None = None) -> list[dict[str, Any]]:
    """OCI mounts, parents before children; bind sources that vanished are made again (as
    ``-v``). ``image_mount`` makes the OCI mount of an image point."""
    out = []
    for p in points:
        ro = [] if p["RW"] else ["ro", *(["rro"] if p.get("RecursiveReadOnly") else [])]
        if p["Type"] == "tmpfs":
            out.append(_tmpfs(p["Destination"], p.get("Options") or [], p["RW"]))
            continue
        if p["Type"] == "image":
            assert image_mount is not None, "an image mount point needs image_mount"
            out.append(image_mount(p))
            continue
        if p.get("CreateSource") and not os.path.lexists(p["Source"]):
            os.makedirs(p["Source"], exist_ok=True)  # what appeared since (a file too) is used
        out.append({"destination": p["Destination"], "type": "bind", "source": p["Source"],
                    "options": ["rbind", p["Propagation"] or "rprivate", *ro]})
    for target, options in (tmpfs or {}).items():
        flags = options.split(",") if options else []
        out.append(_tmpfs(target, flags, "ro" not in flags))
    return sorted(out, key=lambda m: len([c for c in m["destination"].split("/") if c]))
