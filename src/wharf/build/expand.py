"""Which instructions get ``$VAR`` substitution, with which variables.

Docker's classic builder expands ADD, COPY (sources, destination, --chown,
--chmod, --from), ENV and LABEL (keys and values), EXPOSE (the one
instruction where one word may become several ports), USER, VOLUME, WORKDIR,
STOPSIGNAL and ARG; FROM is expanded with the ARGs declared before the first
FROM only. RUN, CMD, ENTRYPOINT, SHELL and HEALTHCHECK are left to the
shell in the container; ONBUILD triggers are expanded when they run in a
child build.

The variables of a step are the config's ENV plus the build args the stage
declared (an ENV of the same name wins). A build arg's value is the
``--build-arg`` one if given, else the ARG default, else the default of the
same ARG declared before FROM.
"""

from __future__ import annotations

import dataclasses

from wharf.build.instructions import Instruction, Stage
from wharf.build.parser import Heredoc, parse_heredoc_word
from wharf.build.shell_lex import Lexer

# Usable without an ARG line, and kept out of the image history unless declared.
PREDEFINED_ARGS = frozenset({
    "HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy", "FTP_PROXY", "ftp_proxy",
    "NO_PROXY", "no_proxy", "ALL_PROXY", "all_proxy",
})


class BuildArgs:
    """The build args of one build: ``--build-arg`` options and the ARGs seen so far."""

    def __init__(self, options: dict[str, str | None]) -> None:
        self.options = dict(options)
        self.meta: dict[str, str | None] = {}
        self.allowed: dict[str, str | None] = {}
        self.referenced: set[str] = set()

    def for_stage(self) -> "BuildArgs":
        """A stage starts with no ARG declared (meta ARGs must be redeclared to be used)."""
        child = BuildArgs(self.options)
        child.meta = self.meta
        child.referenced = self.referenced  # shared: "not consumed" is per build
        return child

    def declare(self, key: str, default: str | None) -> None:
        self.allowed[key] = default
        self.referenced.add(key)

    def declare_meta(self, key: str, default: str | None) -> None:
        self.declare(key, default)
        self.meta[key] = default

    def _value(self, key: str, defaults: dict[str, str | None]) -> str | None:
        """``--build-arg`` value, else the declared default, else the meta ARG's default."""
        option = self.options.get(key)
        if option is not None:
            return option
        default = defaults.get(key)
        return self.meta.get(key) if default is None else default

    def meta_env(self) -> dict[str, str]:
        return {k: v for k in self.meta if (v := self._value(k, self.meta)) is not None}

    def values(self) -> dict[str, str]:
        """Declared args with a value, plus predefined proxy args given as options."""
        out = {k: v for k in PREDEFINED_ARGS if (v := self._value(k, {})) is not None}
        out.update({k: v for k in self.allowed if (v := self._value(k, self.allowed)) is not None})
        return out

    def not_in(self, env: list[str]) -> dict[str, str]:
        """The arg values a step sees besides its ENV (which wins on a name clash)."""
        keys = {e.split("=", 1)[0] for e in env}
        return {k: v for k, v in self.values().items() if k not in keys}

    def unused_warning(self) -> str | None:
        """Docker's warning for ``--build-arg``s no ARG declared."""
        left = sorted(k for k in self.options if k not in self.referenced and k not in PREDEFINED_ARGS)
        return f"[Warning] One or more build-args [{' '.join(left)}] were not consumed" if left else None


def step_env(config_env: list[str], args: BuildArgs) -> dict[str, str]:
    """The variables substitution sees in a step."""
    env: dict[str, str] = {}
    for entry in config_env:
        key, _, value = entry.partition("=")
        env[key] = value
    env.update(args.not_in(config_env))
    return env


def declare_meta_args(meta_args: list[Instruction], args: BuildArgs, escape: str) -> None:
    """Process the ARGs before the first FROM, each seeing the ones before it."""
    lexer = Lexer(escape)
    for instr in meta_args:
        for key, default in instr.arg_definitions():
            env = args.meta_env()
            key = lexer.word(key, env)
            args.declare_meta(key, None if default is None else lexer.word(default, env))


def expand_from(stage: Stage, args: BuildArgs, escape: str) -> tuple[str, str]:
    """The stage's base image and platform with the meta ARGs substituted."""
    lexer = Lexer(escape)
    env = args.meta_env()
    return lexer.word(stage.base, env), lexer.word(stage.platform, env)


def expand(instr: Instruction, env: dict[str, str], escape: str) -> Instruction:
    """A copy of ``instr`` with substitution done where Docker does it."""
    fn = _EXPANDERS.get(instr.name)
    if fn is None:
        return instr
    lexer = Lexer(escape)
    word = lambda text: lexer.word(text, env)  # noqa: E731
    args, flags = fn(instr, word, lexer, env)
    return dataclasses.replace(instr, args=args, flags=flags)


def expand_heredoc(doc: Heredoc, env: dict[str, str]) -> str:
    """A ``COPY <<EOF`` body: ``$VAR`` expanded unless the delimiter was quoted; quotes stay."""
    if not doc.expand:
        return doc.body
    return Lexer(skip_quotes=True, raw_escapes=True).word(doc.body, env)


def run_history_cmd(cmd: list[str], args: BuildArgs, config_env: list[str]) -> list[str]:
    """RUN's Cmd as recorded for the cache and history: ``|N a=1 b=2`` in front when args apply.

    Predefined proxy args stay out unless the Dockerfile declared them, so
    credentials in a proxy URL do not end up in ``docker history``.
    """
    values = args.not_in(config_env)
    if not values:
        return cmd
    shown = sorted(f"{k}={v}" for k, v in values.items() if k in args.allowed or k not in PREDEFINED_ARGS)
    return [f"|{len(shown)}", *shown, *cmd]


def _words_each(instr, word, lexer, env):
    return [word(a) for a in instr.args], instr.flags


def _copy(instr, word, lexer, env):
    args = [a if parse_heredoc_word(a) else word(a) for a in instr.args]
    return args, _flags(instr, word)


def _run(instr, word, lexer, env):
    """RUN's command is the shell's to expand; its flags (``--mount=id=$X``) are the builder's."""
    return instr.args, _flags(instr, word)


def _flags(instr, word):
    return {k: word(v) if isinstance(v, str) else [word(x) for x in v] for k, v in instr.flags.items()}


def _expose(instr, word, lexer, env):
    return [port for a in instr.args for port in lexer.words(a, env)], instr.flags


def _arg(instr, word, lexer, env):
    out = []
    for key, default in instr.arg_definitions():
        out.append(word(key) if default is None else f"{word(key)}={word(default)}")
    return out, instr.flags


_EXPANDERS = {
    "add": _copy,
    "copy": _copy,
    "run": _run,
    "env": _words_each,
    "label": _words_each,
    "expose": _expose,
    "user": _words_each,
    "volume": _words_each,
    "workdir": _words_each,
    "stopsignal": _words_each,
    "arg": _arg,
}
