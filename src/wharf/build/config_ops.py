"""The instructions that only change an image's config, as pure functions.

CMD, ENTRYPOINT, ENV, LABEL, EXPOSE, USER, VOLUME, WORKDIR, STOPSIGNAL,
SHELL, HEALTHCHECK, ONBUILD and MAINTAINER need no container: each maps the
stage's state to a new one, with Docker's classic-builder rules (ENTRYPOINT
drops a CMD inherited from the base image but keeps one set earlier in the
same stage; WORKDIR is relative to the previous one; shell forms are wrapped
in SHELL or ``/bin/sh -c``; EXPOSE ranges become one port each). ``comment``
gives the ``#(nop)`` text Docker records in the history and that keys the
build cache for these steps.

``config`` is the image's container config in Docker's JSON shape
(``Cmd``, ``Entrypoint``, ``Env``, ``WorkingDir``, ...). Instructions given
here are already expanded (``wharf.build.expand``).
"""

from __future__ import annotations

import copy
import json
import posixpath
import re
import signal
from dataclasses import dataclass, field, replace

from wharf.build import durations
from wharf.build.instructions import Instruction, instruction
from wharf.build.parser import parse
from wharf.errors import InvalidParameter

DEFAULT_SHELL = ["/bin/sh", "-c"]
DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
_PROTOCOLS = ("tcp", "udp", "sctp")


@dataclass
class ImageState:
    config: dict = field(default_factory=dict)
    author: str = ""
    cmd_set: bool = False  # a CMD in this stage: a later ENTRYPOINT keeps it


def begin_stage(base_config: dict | None) -> tuple[ImageState, list[str]]:
    """The state a stage starts from, and the base's ONBUILD triggers to run first.

    The child's config does not inherit the triggers; PATH gets Docker's
    default when the base has none (``FROM scratch`` included).
    """
    config = copy.deepcopy(base_config or {})
    config["OpenStdin"] = False
    config["StdinOnce"] = False
    env = list(config.get("Env") or [])
    if not any(e.split("=", 1)[0] == "PATH" for e in env):
        env.append("PATH=" + DEFAULT_PATH)
    config["Env"] = env
    triggers = list(config.get("OnBuild") or [])
    config["OnBuild"] = None
    return ImageState(config), triggers


def parse_triggers(triggers: list[str]) -> list[Instruction]:
    """A base image's ONBUILD strings as instructions to run in the child."""
    out = []
    for text in triggers:
        nodes = parse(text).nodes
        if len(nodes) != 1:
            raise InvalidParameter("onbuild trigger should be a single expression")
        node = nodes[0]
        if node.cmd in ("onbuild", "from", "maintainer"):
            raise InvalidParameter(f"{node.cmd.upper()} isn't allowed as an ONBUILD trigger")
        out.append(instruction(node))
    return out


def shell_of(config: dict) -> list[str]:
    return list(config.get("Shell") or DEFAULT_SHELL)


def command_of(instr: Instruction, config: dict) -> list[str] | None:
    """RUN/CMD/ENTRYPOINT's argv: the exec form as is, the shell form wrapped in the SHELL."""
    if instr.json:
        if instr.name == "entrypoint" and not instr.args:
            return None
        return list(instr.args)
    return shell_of(config) + instr.command_line()


def apply(state: ImageState, instr: Instruction) -> ImageState:
    """The state after a config-only instruction (others leave it unchanged)."""
    fn = _OPS.get(instr.name)
    if fn is None:
        return state
    config = copy.deepcopy(state.config)
    new = replace(state, config=config)
    fn(new, config, instr)
    return new


def comment(state_after: ImageState, instr: Instruction) -> str:
    """Docker's history text for a config-only step (``CMD ["sh" "-c" "x"]``)."""
    c = state_after.config
    name = instr.name
    if name in ("env", "label"):
        return instr.keyword + "".join(f" {k}={v}" for k, v in instr.pairs())
    if name == "cmd":
        return "CMD " + _go_quoted_list(c.get("Cmd"))
    if name == "entrypoint":
        return "ENTRYPOINT " + _go_quoted_list(c.get("Entrypoint"))
    if name in ("volume", "shell"):
        return f"{instr.keyword} [{' '.join(instr.args)}]"
    if name == "workdir":
        return "WORKDIR " + c.get("WorkingDir", "")
    if name == "healthcheck":
        return "HEALTHCHECK " + _go_health(c.get("Healthcheck") or {})
    if name == "onbuild":
        return "ONBUILD " + instr.trigger
    return f"{instr.keyword} {' '.join(instr.args)}"


def nop_cmd(config: dict, text: str) -> list[str]:
    """The Cmd Docker commits a config-only step with (its history ``CreatedBy``)."""
    return shell_of(config) + ["#(nop) ", text]


def normalize_workdir(current: str, requested: str) -> str:
    if not requested:
        raise InvalidParameter("cannot normalize nothing")
    if not requested.startswith("/"):
        return posixpath.normpath(posixpath.join("/", current or "", requested))
    return posixpath.normpath(requested).replace("//", "/")


def exposed_ports(specs: list[str]) -> list[str]:
    """``["80", "53/UDP", "8000-8001"]`` to ``["80/tcp", "53/udp", "8000/tcp", "8001/tcp"]``."""
    out: list[str] = []
    for spec in specs:
        container = spec.rsplit(":", 1)[-1]
        port, _, proto = container.partition("/")
        proto = (proto or "tcp").lower()
        if proto not in _PROTOCOLS:
            raise InvalidParameter(f"invalid proto: {proto}")
        m = re.fullmatch(r"(\d+)(?:-(\d+))?", port)
        start, end = (int(m.group(1)), int(m.group(2) or m.group(1))) if m else (0, -1)
        if not m or end < start or end > 65535:
            raise InvalidParameter(f"Invalid containerPort: {container}")
        out += [f"{p}/{proto}" for p in range(start, end + 1)]
    return out


def validate_signal(raw: str) -> None:
    """Docker's ``signal.ParseSignal``: a number, or a name with or without ``SIG``."""
    if raw.isdigit():
        if int(raw) == 0:
            raise InvalidParameter(f"Invalid signal: {raw}")
        return
    name = raw.upper().removeprefix("SIG")
    if name in _SIGNAL_NAMES:
        return
    m = re.fullmatch(r"RTM(IN|AX)([+-]\d+)?", name)
    if m and (m.group(2) is None or (1 <= abs(int(m.group(2))) <= 15 and (m.group(1) == "IN") == (int(m.group(2)) > 0))):
        return
    raise InvalidParameter(f"Invalid signal: {raw}")


_SIGNAL_NAMES = frozenset(s.name.removeprefix("SIG") for s in signal.Signals) | {"IOT", "POLL", "CLD", "UNUSED", "STKFLT"}


def _env(state: ImageState, config: dict, instr: Instruction) -> None:
    env = list(config.get("Env") or [])
    for key, value in instr.pairs():
        entry = f"{key}={value}"
        for i, existing in enumerate(env):
            if existing.split("=", 1)[0] == key:
                env[i] = entry
                break
        else:
            env.append(entry)
    config["Env"] = env


def _label(state: ImageState, config: dict, instr: Instruction) -> None:
    labels = dict(config.get("Labels") or {})
    labels.update(instr.pairs())
    config["Labels"] = labels


def _cmd(state: ImageState, config: dict, instr: Instruction) -> None:
    config["Cmd"] = command_of(instr, config)
    state.cmd_set = True


def _entrypoint(state: ImageState, config: dict, instr: Instruction) -> None:
    config["Entrypoint"] = command_of(instr, config)
    if not state.cmd_set:
        config["Cmd"] = None


def _workdir(state: ImageState, config: dict, instr: Instruction) -> None:
    config["WorkingDir"] = normalize_workdir(config.get("WorkingDir", ""), instr.args[0])


def _expose(state: ImageState, config: dict, instr: Instruction) -> None:
    ports = dict(config.get("ExposedPorts") or {})
    for port in exposed_ports(instr.args):
        ports[port] = {}
    config["ExposedPorts"] = ports


def _user(state: ImageState, config: dict, instr: Instruction) -> None:
    config["User"] = instr.args[0]


def _volume(state: ImageState, config: dict, instr: Instruction) -> None:
    volumes = dict(config.get("Volumes") or {})
    for path in instr.args:
        if not path.strip():
            raise InvalidParameter("VOLUME specified can not be an empty string")
        volumes[path] = {}
    config["Volumes"] = volumes


def _stopsignal(state: ImageState, config: dict, instr: Instruction) -> None:
    validate_signal(instr.args[0])
    config["StopSignal"] = instr.args[0]


def _shell(state: ImageState, config: dict, instr: Instruction) -> None:
    config["Shell"] = list(instr.args)


def _healthcheck(state: ImageState, config: dict, instr: Instruction) -> None:
    config["Healthcheck"] = copy.deepcopy(instr.health)


def _onbuild(state: ImageState, config: dict, instr: Instruction) -> None:
    config["OnBuild"] = list(config.get("OnBuild") or []) + [instr.trigger]


def _maintainer(state: ImageState, config: dict, instr: Instruction) -> None:
    state.author = instr.args[0]


_OPS = {
    "env": _env, "label": _label, "cmd": _cmd, "entrypoint": _entrypoint, "workdir": _workdir,
    "expose": _expose, "user": _user, "volume": _volume, "stopsignal": _stopsignal,
    "shell": _shell, "healthcheck": _healthcheck, "onbuild": _onbuild, "maintainer": _maintainer,
}


def _go_quoted_list(items: list[str] | None) -> str:
    """Go's ``%q`` of a string slice: ``["a" "b c"]``."""
    return "[" + " ".join(json.dumps(s, ensure_ascii=False) for s in items or []) + "]"


def _go_health(h: dict) -> str:
    """Go's ``%q`` of a HealthConfig pointer, as Docker's history shows it."""
    retries = h.get("Retries", 0)
    times = " ".join(f'"{durations.format(h.get(k, 0))}"' for k in ("Interval", "Timeout", "StartPeriod"))
    return f"&{{{_go_quoted_list(h.get('Test'))} {times} '\\x{retries:02x}'}}"
