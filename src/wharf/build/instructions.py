"""Parsed nodes to validated instructions grouped into build stages.

Docker checks every instruction's arguments and flags before the first step
runs, so a typo on line 40 fails the build at once with that line. The
checks and their messages follow Docker's (buildkit's instruction parser, as
the classic builder uses it).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from wharf.build import durations, runmount
from wharf.build.suggest import suggestion
from wharf.build.parser import AST, Heredoc, Node, ParseError, parse, parse_heredoc_word
from wharf.errors import InvalidParameter

INSTRUCTIONS = (
    "ADD", "ARG", "CMD", "COPY", "ENTRYPOINT", "ENV", "EXPOSE", "FROM", "HEALTHCHECK", "LABEL",
    "MAINTAINER", "ONBUILD", "RUN", "SHELL", "STOPSIGNAL", "USER", "VOLUME", "WORKDIR",
)
_STAGE_NAME = re.compile(r"^[a-z][a-z0-9\-_.]*$")
_ONBUILD_PREFIX = re.compile(r"^\s*ONBUILD\s*", re.IGNORECASE)
RUN_NETWORKS = ("default", "none", "host")
_MIN_HEALTH_DURATION_NS = 1_000_000  # Docker's container.MinimumDuration (1ms)

# Flags each instruction accepts: name -> "string" | "bool" | "strings".
_FLAGS: dict[str, dict[str, str]] = {
    "add": {"chown": "string", "chmod": "string", "link": "bool", "keep-git-dir": "bool", "checksum": "string",
            "unpack": "bool", "exclude": "strings"},
    "copy": {"chown": "string", "chmod": "string", "from": "string", "link": "bool", "exclude": "strings",
             "parents": "bool"},
    "from": {"platform": "string"},
    "run": {"mount": "strings", "network": "string", "security": "string"},
    "healthcheck": {"interval": "string", "timeout": "string", "start-period": "string", "retries": "string"},
}
_FLAGS_IGNORED = ("stopsignal",)  # Docker never parses STOPSIGNAL's flags


@dataclass
class Instruction:
    """One instruction of a stage, arguments as written (not yet expanded)."""

    name: str  # lower-case: "copy"
    args: list[str]
    flags: dict[str, str | list[str]]
    json: bool
    original: str
    line: int
    end_line: int
    heredocs: list[Heredoc] = field(default_factory=list)
    health: dict | None = None  # HEALTHCHECK: Docker's HealthConfig shape
    trigger: str = ""  # ONBUILD: the trigger instruction's text

    @property
    def keyword(self) -> str:
        return self.name.upper()

    def command_line(self) -> list[str]:
        """RUN/CMD/ENTRYPOINT/SHELL: the exec array, or the shell form as one string."""
        return list(self.args) if self.json else [" ".join(self.args)]

    def pairs(self) -> list[tuple[str, str]]:
        """ENV/LABEL: (key, value) in order."""
        return list(zip(self.args[::2], self.args[1::2]))

    def arg_definitions(self) -> list[tuple[str, str | None]]:
        """ARG: (name, default or None when declared without one)."""
        defs: list[tuple[str, str | None]] = []
        for word in self.args:
            key, eq, value = word.partition("=")
            defs.append((key, value if eq else None))
        return defs

    def sources_and_dest(self) -> tuple[list[str], list[Heredoc], str]:
        """COPY/ADD: source paths, heredoc sources (``COPY <<EOF /f``), destination."""
        by_name = {doc.name: doc for doc in self.heredocs}
        paths: list[str] = []
        inline: list[Heredoc] = []
        for src in self.args[:-1]:
            doc = parse_heredoc_word(src)
            if doc is None:
                paths.append(src)
            else:
                found = by_name.get(doc.name, doc)
                inline.append(found)
        return paths, inline, self.args[-1]


@dataclass
class Stage:
    base: str  # the FROM image, not yet expanded with the meta ARGs
    name: str  # lower-cased ``AS`` name, "" if none
    platform: str
    index: int
    original: str
    line: int
    instructions: list[Instruction] = field(default_factory=list)


@dataclass
class Dockerfile:
    meta_args: list[Instruction]  # ARGs before the first FROM
    stages: list[Stage]
    escape: str
    syntax: str | None
    warnings: list[str]

    def stage(self, ref: str) -> Stage | None:
        """A stage by ``AS`` name (case-insensitive) or by index, as ``--from``/``--target`` use."""
        for stage in self.stages:
            if stage.name and stage.name == ref.lower():
                return stage
        if ref.isdigit() and int(ref) < len(self.stages):
            return self.stages[int(ref)]
        return None


def parse_dockerfile(text: str) -> Dockerfile:
    """Parse and validate a whole Dockerfile into stages."""
    ast = parse(text)
    meta: list[Instruction] = []
    stages: list[Stage] = []
    for node in ast.nodes:
        try:
            _add(node, meta, stages)
        except ParseError:
            raise
        except InvalidParameter as e:
            raise ParseError(e.message, node.line, node.end_line) from None
    if not stages:
        raise InvalidParameter("No image was generated. Is your Dockerfile empty?")
    return Dockerfile(meta, stages, ast.escape, ast.syntax, ast.warnings)


def parse_ast(ast: AST) -> list[Instruction]:
    """Validate nodes that are not FROMs (ONBUILD triggers run in a child's stage)."""
    out = []
    for node in ast.nodes:
        try:
            out.append(instruction(node))
        except ParseError:
            raise
        except InvalidParameter as e:
            raise ParseError(e.message, node.line, node.end_line) from None
    return out


def _add(node: Node, meta: list[Instruction], stages: list[Stage]) -> None:
    if node.cmd == "from":
        name = _stage_name(node.args)
        flags = _parse_flags(node.flags, _FLAGS["from"])
        if name and any(s.name == name for s in stages):
            raise InvalidParameter(f'duplicate stage name "{name}"')
        stages.append(Stage(node.args[0], name, str(flags.get("platform", "")), len(stages),
                            node.original.strip(), node.line))
        return
    instr = instruction(node)
    if not stages:
        if instr.name != "arg":
            raise InvalidParameter("no build stage in current context")
        meta.append(instr)
        return
    stages[-1].instructions.append(instr)


def _stage_name(args: list[str]) -> str:
    if len(args) == 3 and args[1].lower() == "as":
        name = args[2].lower()
        if not _STAGE_NAME.match(name):
            raise InvalidParameter(
                f'invalid name for build stage: "{args[2]}", name can\'t start with a number or contain symbols')
        return name
    if len(args) != 1:
        raise InvalidParameter("FROM requires either one or three arguments")
    return ""


def instruction(node: Node) -> Instruction:
    """Validate one non-FROM node (FROM starts a stage; see ``parse_dockerfile``)."""
    keyword = node.original.split(None, 1)[0] if node.original.strip() else node.cmd
    check = _CHECKS.get(node.cmd)
    if check is None:
        raise InvalidParameter(f"unknown instruction: {keyword}{suggestion(keyword, INSTRUCTIONS, False)}")
    if node.cmd == "from":
        raise InvalidParameter("FROM isn't allowed here")
    spec = _FLAGS.get(node.cmd, {})
    skip_flags = node.cmd in _FLAGS_IGNORED or (node.cmd == "healthcheck" and node.args[:1] and node.args[0].upper() == "NONE")
    flags = {} if skip_flags else _parse_flags(node.flags, spec)
    instr = Instruction(node.cmd, node.args, flags, node.json, node.original, node.line, node.end_line,
                        list(node.heredocs))
    check(instr, node)
    return instr


def _parse_flags(raw: list[str], spec: dict[str, str]) -> dict[str, str | list[str]]:
    out: dict[str, str | list[str]] = {}
    for arg in raw:
        if not arg.startswith("--"):
            raise InvalidParameter(f"arg should start with -- : {arg}")
        if arg == "--":
            break
        name, eq, value = arg[2:].partition("=")
        kind = spec.get(name)
        if kind is None:
            raise InvalidParameter(f"unknown flag: {name}{suggestion(name, list(spec))}")
        if name in out and kind != "strings":
            raise InvalidParameter(f"duplicate flag specified: {name}")
        if kind == "bool":
            if eq and not value:
                raise InvalidParameter(f"missing a value on flag: {name}")
            if value.lower() not in ("", "true", "false"):
                raise InvalidParameter(f"expecting boolean value for flag {name}, not: {value}")
            out[name] = "false" if value.lower() == "false" else "true"
        elif not eq:
            raise InvalidParameter(f"missing a value on flag: {name}")
        elif kind == "strings":
            out.setdefault(name, [])
            out[name].append(value)  # type: ignore[union-attr]
        else:
            out[name] = value
    return out


# -- per-instruction argument checks (Docker's wording) ----------------------


def _at_least_one(instr: Instruction, node: Node) -> None:
    if not instr.args:
        raise InvalidParameter(f"{instr.keyword} requires at least one argument")


def _exactly_one(instr: Instruction, node: Node) -> None:
    if len(instr.args) != 1:
        raise InvalidParameter(f"{instr.keyword} requires exactly one argument")


def _key_values(instr: Instruction, node: Node) -> None:
    _at_least_one(instr, node)
    if len(instr.args) % 2:
        raise InvalidParameter(f"Bad input to {instr.keyword}, too many arguments")
    if any(not key for key in instr.args[::2]):
        raise InvalidParameter(f"{instr.keyword} names can not be blank")


def _arg(instr: Instruction, node: Node) -> None:
    _at_least_one(instr, node)
    if any(not key for key, _ in instr.arg_definitions()):
        raise InvalidParameter("ARG names can not be blank")


def _copy(instr: Instruction, node: Node) -> None:
    if len(instr.args) < 2:
        raise InvalidParameter(
            f"{instr.keyword} requires at least two arguments, but only one was provided. Destination could not be determined")
    if parse_heredoc_word(instr.args[-1]) is not None:
        raise InvalidParameter(f"{instr.keyword} cannot accept a heredoc as a destination")


def _run(instr: Instruction, node: Node) -> None:
    """BuildKit's RUN flags; values with a variable are checked once expanded, at their step."""
    later = lambda v: "$" in v  # noqa: E731
    flags = {k: ([m for m in v if not later(m)] if isinstance(v, list) else v)
             for k, v in instr.flags.items() if isinstance(v, list) or not later(v)}
    check_run_flags(flags)


def check_run_flags(flags: dict[str, str | list[str]]) -> list[runmount.Mount]:
    """``--network``, ``--security`` and the ``--mount``s, as BuildKit reads them."""
    network = flags.get("network", "default")
    if network not in RUN_NETWORKS:
        raise InvalidParameter(f'invalid network mode "{network}"')
    security = flags.get("security", "sandbox")
    if security not in ("insecure", "sandbox"):
        raise InvalidParameter(f'security "{security}" is not valid')
    return [runmount.parse(v) for v in flags.get("mount", [])]


def _shell(instr: Instruction, node: Node) -> None:
    if not instr.args:
        raise InvalidParameter("SHELL requires at least one argument")
    if not instr.json:
        raise InvalidParameter("SHELL requires the arguments to be in JSON form")


def _volume(instr: Instruction, node: Node) -> None:
    _at_least_one(instr, node)
    instr.args = [v.strip() for v in instr.args]
    if any(not v for v in instr.args):
        raise InvalidParameter("VOLUME specified can not be an empty string")


def _expose(instr: Instruction, node: Node) -> None:
    _at_least_one(instr, node)
    instr.args = sorted(instr.args)


def _onbuild(instr: Instruction, node: Node) -> None:
    if node.sub is None:
        raise InvalidParameter("ONBUILD requires at least one argument")
    trigger = node.sub.cmd.upper()
    if trigger == "ONBUILD":
        raise InvalidParameter("Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed")
    if trigger in ("MAINTAINER", "FROM"):
        raise InvalidParameter(f"{trigger} isn't allowed as an ONBUILD trigger")
    text = _ONBUILD_PREFIX.sub("", node.original, count=1)
    for doc in node.heredocs:
        text += "\n" + doc.content + doc.name
    instr.trigger = text


def _healthcheck(instr: Instruction, node: Node) -> None:
    _at_least_one(instr, node)
    kind, command = instr.args[0].upper(), instr.args[1:]
    if kind == "NONE":
        if command:
            raise InvalidParameter("HEALTHCHECK NONE takes no arguments")
        instr.health = {"Test": ["NONE"]}
        return
    if kind != "CMD":
        raise InvalidParameter(f'Unknown type "{kind}" in HEALTHCHECK (try CMD)')
    line = command if instr.json else ([" ".join(command)] if command else [])
    if not line:
        raise InvalidParameter("Missing command after HEALTHCHECK CMD")
    health: dict = {"Test": ["CMD" if instr.json else "CMD-SHELL", *line]}
    for flag, key in (("interval", "Interval"), ("timeout", "Timeout"), ("start-period", "StartPeriod")):
        value = str(instr.flags.get(flag, ""))
        if value:
            ns = durations.parse(value)
            if ns < _MIN_HEALTH_DURATION_NS:
                raise InvalidParameter(f'Interval "{flag}" cannot be less than 1ms')
            health[key] = ns
    retries = str(instr.flags.get("retries", ""))
    if retries:
        if not re.fullmatch(r"[+-]?\d+", retries):
            raise InvalidParameter(f'strconv.ParseInt: parsing "{retries}": invalid syntax')
        if int(retries) < 1:
            raise InvalidParameter(f"--retries must be at least 1 (not {int(retries)})")
        health["Retries"] = int(retries)
    instr.health = health


def _nothing(instr: Instruction, node: Node) -> None:
    return None


_CHECKS = {
    "add": _copy,
    "arg": _arg,
    "cmd": _nothing,
    "copy": _copy,
    "entrypoint": _nothing,
    "env": _key_values,
    "expose": _expose,
    "from": _nothing,
    "healthcheck": _healthcheck,
    "label": _key_values,
    "maintainer": _exactly_one,
    "onbuild": _onbuild,
    "run": _run,
    "shell": _shell,
    "stopsignal": _exactly_one,
    "user": _exactly_one,
    "volume": _volume,
    "workdir": _exactly_one,
}
