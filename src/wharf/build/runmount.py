"""``RUN --mount=...`` values to mounts, with BuildKit's defaults and messages.

Pure parsing (moby/buildkit's ``instructions/commands_runmount.go`` and the
target/id defaults of ``dockerfile2llb``): a mount's CSV fields are checked
when the Dockerfile is read, so a typo fails the build before its first
step. What a mount is made of at run time is ``wharf.engine.buildmounts``'s.
"""

from __future__ import annotations

import csv
import posixpath
from dataclasses import dataclass

from wharf.build.suggest import suggestion
from wharf.errors import InvalidParameter
from wharf.runtime.jsonlog import parse_size
from wharf.strconv import parse_bool

TYPES = ("bind", "cache", "tmpfs", "secret", "ssh")
SHARING = ("shared", "private", "locked")
_KEYS = ("type", "from", "source", "target", "readonly", "id", "sharing", "required", "size", "mode",
         "uid", "gid", "src", "dst", "destination", "ro", "rw", "readwrite", "env")


@dataclass
class Mount:
    type: str = "bind"
    source: str = ""
    target: str = ""
    from_: str = ""
    readonly: bool = True
    id: str = ""
    sharing: str = ""
    required: bool = False
    size: int = 0
    mode: int | None = None
    uid: int | None = None
    gid: int | None = None

    def resolved_target(self, workdir: str) -> str:
        """The absolute target (a relative one is under WORKDIR); ``/`` is refused."""
        target = posixpath.normpath(posixpath.join("/", workdir or "/", self.target))
        if target == "/":
            raise InvalidParameter(f'invalid mount target "{target}"')
        return target

    def cache_id(self) -> str:
        return self.id or posixpath.normpath(self.target)

    def secret_id(self) -> str:
        """A secret's id: ``id``, else the target's base name (``dockerfile2llb``'s rule)."""
        return self.id or posixpath.basename(self.target)

    def secret_target(self) -> str:
        return self.target or "/run/secrets/" + posixpath.basename(self.secret_id())


def _bool(key: str, value: str) -> bool:
    on = parse_bool(value)
    if on is None:
        raise InvalidParameter(f"invalid value for {key}: {value}")
    return on


def _number(key: str, value: str, base: int) -> int:
    try:
        number = int(value, base)
    except ValueError:
        number = -1
    if not 0 <= number < 1 << 32:
        raise InvalidParameter(f"invalid value {value} for {key}")
    return number


def _ram_bytes(value: str) -> int:
    """go-units' RAMInBytes: ``64m``, ``1.5g``, ``100`` (binary units)."""
    try:
        return parse_size(value)
    except ValueError:
        raise InvalidParameter(f"invalid value for size: {value}") from None


def parse(value: str) -> Mount:
    """One ``--mount`` value, checked as BuildKit checks it."""
    try:
        fields = next(csv.reader([value]))
    except (csv.Error, StopIteration):
        raise InvalidParameter(f"failed to parse csv mounts: {value}") from None
    m = Mount()
    ro_auto = True
    for field in fields:
        key, eq, val = field.partition("=")
        key = key.lower()
        if not eq:
            if key in ("readonly", "ro", "readwrite", "rw"):
                m.readonly, ro_auto = key in ("readonly", "ro"), False
            elif key == "required" and m.type in ("secret", "ssh"):
                m.required = True
            elif key == "required":
                raise InvalidParameter(f"unexpected key '{key}' for mount type '{m.type}'")
            else:
                raise InvalidParameter(f"invalid field '{field}' must be a key=value pair")
            continue
        if key == "type":
            if val.lower() not in TYPES:
                raise InvalidParameter(f'unsupported mount type "{val}"{suggestion(val, TYPES)}')
            m.type = val.lower()
        elif key == "from":
            if "$" in val[:-1]:
                raise InvalidParameter(f"'{key}' doesn't support variable expansion, define alias stage instead")
            m.from_ = val
        elif key in ("source", "src"):
            m.source = val
        elif key in ("target", "dst", "destination"):
            m.target = val
        elif key in ("readonly", "ro", "readwrite", "rw"):
            m.readonly, ro_auto = _bool(key, val) == (key in ("readonly", "ro")), False
        elif key == "required":
            if m.type not in ("secret", "ssh"):
                raise InvalidParameter(f"unexpected key '{key}' for mount type '{m.type}'")
            m.required = _bool(key, val)
        elif key == "size":
            if m.type != "tmpfs":
                raise InvalidParameter(f"unexpected key '{key}' for mount type '{m.type}'")
            m.size = _ram_bytes(val)
        elif key == "id":
            m.id = val
        elif key == "sharing":
            if val.lower() not in SHARING:
                raise InvalidParameter(f'unsupported sharing value "{val}"{suggestion(val, SHARING)}')
            m.sharing = val.lower()
        elif key == "mode":
            m.mode = _number("mode", val, 8)
        elif key in ("uid", "gid"):
            setattr(m, key, _number(key, val, 10))
        elif key == "env":
            raise InvalidParameter("secret mounts as environment variables (env=) are not supported by wharf")
        else:
            raise InvalidParameter(f"unexpected key '{key}' in '{field}'{suggestion(key, _KEYS)}")
    _check(m, ro_auto)
    return m


def _check(m: Mount, ro_auto: bool) -> None:
    if m.type not in ("secret", "ssh", "cache"):
        for name in ("mode", "uid", "gid"):
            if getattr(m, name) is not None:
                raise InvalidParameter(f'{name} not allowed for "{m.type}" type mounts')
    if ro_auto:
        m.readonly = m.type not in ("cache", "tmpfs")
    if m.type == "secret":
        if m.from_:
            raise InvalidParameter("secret mount should not have a from")
        if m.sharing:
            raise InvalidParameter("secret mount should not define sharing")
        if not (m.source or m.target or m.id):
            raise InvalidParameter("invalid secret mount. one of source, target required")
        if m.source and m.id:
            raise InvalidParameter("both source and id can't be set")
        m.id = m.id or m.source
    if m.sharing and m.type != "cache":
        raise InvalidParameter(f"invalid cache sharing set for {m.type} mount")
    if m.type == "ssh" and m.source:
        raise InvalidParameter("ssh does not support source")


def froms(values: list[str]) -> list[str]:
    """The stages or images ``--mount`` values name with ``from=`` (for the stages a build needs)."""
    out = []
    for value in values:
        for field in next(csv.reader([value]), []):
            key, eq, val = field.partition("=")
            if eq and key.lower() == "from" and val:
                out.append(val)
    return out
