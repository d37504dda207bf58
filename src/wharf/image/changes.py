"""``--change`` instructions (``import``, later ``commit``): Dockerfile lines
that edit an image's container config.

Docker accepts CMD, ENTRYPOINT, ENV, EXPOSE, LABEL, ONBUILD, STOPSIGNAL,
USER, VOLUME and WORKDIR here. Arguments are read the way the Dockerfile
parser reads them: JSON arrays ("exec form") or a shell string for
CMD/ENTRYPOINT; ``key=value`` words (quotes allowed) or the legacy
``ENV key value`` form for ENV and LABEL.
"""

from __future__ import annotations

import json
import shlex
from typing import Any

from wharf.errors import InvalidParameter

ALLOWED = ("CMD", "ENTRYPOINT", "ENV", "EXPOSE", "LABEL", "ONBUILD", "STOPSIGNAL", "USER",
           "VOLUME", "WORKDIR")


def empty_config() -> dict[str, Any]:
    """A container config as Docker's image config holds it, nothing set."""
    return {"Hostname": "", "Domainname": "", "User": "", "AttachStdin": False,
            "AttachStdout": False, "AttachStderr": False, "ExposedPorts": None, "Tty": False,
            "OpenStdin": False, "StdinOnce": False, "Env": None, "Cmd": None, "Image": "",
            "Volumes": None, "WorkingDir": "", "Entrypoint": None, "OnBuild": None,
            "Labels": None, "StopSignal": ""}


def apply(config: dict[str, Any], changes: list[str]) -> dict[str, Any]:
    """A copy of ``config`` with every change line applied in order."""
    config = json.loads(json.dumps(config))
    for line in changes:
        line = line.strip()
        if not line:
            continue
        word, _, rest = line.partition(" ")
        instruction, rest = word.upper(), rest.strip()
        if instruction not in ALLOWED:
            raise InvalidParameter(f"{word} is not a valid change command")
        _APPLY[instruction](config, rest)
    return config


def _words(rest: str) -> list[str]:
    try:
        return shlex.split(rest)
    except ValueError as e:
        raise InvalidParameter(f"invalid change: {rest!r}: {e}") from None


def _json_array(rest: str) -> list[str] | None:
    """The exec form ``["a", "b"]``, or None when ``rest`` is not one."""
    try:
        value = json.loads(rest) if rest.startswith("[") else None
    except ValueError:
        return None
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return value
    return None


def _command(rest: str) -> list[str]:
    """Exec form as is; shell form wrapped in ``/bin/sh -c`` as the builder does."""
    exec_form = _json_array(rest)
    return exec_form if exec_form is not None else ["/bin/sh", "-c", rest]


def _pairs(rest: str, name: str) -> list[tuple[str, str]]:
    words = _words(rest)
    if words and "=" not in words[0]:  # legacy: ENV key value with spaces
        if len(words) < 2:
            raise InvalidParameter(f"{name} must have two arguments")
        return [(words[0], rest.split(None, 1)[1].strip())]
    pairs = []
    for word in words:
        key, sep, value = word.partition("=")
        if not sep or not key:
            raise InvalidParameter(f"{name} names can not be blank" if not key else
                                   f"Syntax error - can't find = in \"{word}\". Must be of the form: name=value")
        pairs.append((key, value))
    return pairs


def _env(config: dict[str, Any], rest: str) -> None:
    env = list(config.get("Env") or [])
    for key, value in _pairs(rest, "ENV"):
        env = [e for e in env if e.split("=", 1)[0] != key] + [f"{key}={value}"]
    config["Env"] = env


def _label(config: dict[str, Any], rest: str) -> None:
    config["Labels"] = {**(config.get("Labels") or {}), **dict(_pairs(rest, "LABEL"))}


def _expose(config: dict[str, Any], rest: str) -> None:
    ports = dict(config.get("ExposedPorts") or {})
    for word in _words(rest):
        port, _, proto = word.partition("/")
        if not port.replace("-", "").isdigit():
            raise InvalidParameter(f"invalid containerPort: {port}")
        ports[f"{port}/{(proto or 'tcp').lower()}"] = {}
    config["ExposedPorts"] = ports


def _volume(config: dict[str, Any], rest: str) -> None:
    paths = _json_array(rest)
    paths = _words(rest) if paths is None else paths
    config["Volumes"] = {**(config.get("Volumes") or {}), **{p: {} for p in paths}}


def _set(key: str) -> Any:
    def setter(config: dict[str, Any], rest: str) -> None:
        config[key] = rest
    return setter


def _cmd(key: str) -> Any:
    def setter(config: dict[str, Any], rest: str) -> None:
        config[key] = _command(rest)
    return setter


def _onbuild(config: dict[str, Any], rest: str) -> None:
    config["OnBuild"] = list(config.get("OnBuild") or []) + [rest]


_APPLY = {"CMD": _cmd("Cmd"), "ENTRYPOINT": _cmd("Entrypoint"), "ENV": _env, "EXPOSE": _expose,
          "LABEL": _label, "ONBUILD": _onbuild, "STOPSIGNAL": _set("StopSignal"),
          "USER": _set("User"), "VOLUME": _volume, "WORKDIR": _set("WorkingDir")}
