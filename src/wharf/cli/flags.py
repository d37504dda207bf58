"""Docker-style (pflag/cobra) command-line parsing with an argparse-like surface.

Why not argparse: docker's grammar differs in ways users notice — ``-h`` is
``--hostname`` for ``run``, bools take ``--rm=false``, ``run`` stops reading
flags at the image (``wharf run busybox ls -l``), and the errors and help
have docker's exact wording and layout. Command modules still write
``parser.add_argument("-a", "--all", action="store_true", help=...)``.
"""

from __future__ import annotations

from types import SimpleNamespace

from wharf.strconv import invalid_bool, parse_bool
TYPE_CHECKING = False  # typing costs the CLI ~6 ms of import time
if TYPE_CHECKING:
    from typing import Any, Callable

REMAINDER = "..."


class UsageError(Exception):
    """A command line docker would reject; ``status`` is the exit code it uses.

    Flag errors exit 125 (docker's StatusError for flags), argument-count
    errors 1. ``show_usage`` adds the Usage block after the message.
    """

    def __init__(self, message: str, status: int = 125, show_usage: bool = False) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.show_usage = show_usage


class HelpRequested(Exception):
    """``--help`` was given: print the help and exit 0."""


class _Flag:
    def __init__(self, names: tuple[str, ...], action: str, dest: str, type: Callable[[str], Any] | None,
                 default: Any, help: str, metavar: str | None, choices: Any) -> None:
        self.short = next((n[1:] for n in names if len(n) == 2 and n[0] == "-" and n[1] != "-"), None)
        longs = [n[2:] for n in names if n.startswith("--")]
        self.long = longs[0] if longs else None
        # Further long names are hidden aliases, as docker's deprecated ``--net``.
        self.hidden_longs = tuple(longs[1:])
        self.action = action
        self.dest = dest
        self.type = type
        self.default = default
        self.help = help
        self.choices = choices
        self.metavar = metavar if metavar is not None else _type_word(action, type)

    @property
    def takes_value(self) -> bool:
        return self.action in ("store", "append")

    def spelled(self) -> str:
        """How pflag names a flag in errors: ``-m, --memory`` or ``--rm``."""
        if self.short and self.long:
            return f"-{self.short}, --{self.long}"
        return f"--{self.long}" if self.long else f"-{self.short}"


def _type_word(action: str, type: Callable[[str], Any] | None) -> str:
    if action in ("store_true", "store_false", "count"):
        return ""
    if action == "append":
        return "list"
    if type is int:
        return "int"
    if type is float:
        return "decimal"
    return "string"


class _Positional:
    def __init__(self, dest: str, nargs: Any, metavar: str | None) -> None:
        self.dest = dest
        self.nargs = nargs
        self.metavar = metavar or dest.upper()

    @property
    def minimum(self) -> int:
        return 1 if self.nargs in (None, "+") else 0

    @property
    def unbounded(self) -> bool:
        return self.nargs in ("*", "+", REMAINDER)


class FlagSet:
    """One command's flags and arguments, its usage line and help text."""

    def __init__(self, command: str, description: str = "", usage: str | None = None,
                 interspersed: bool = True, aliases: str = "") -> None:
        self.command = command            # e.g. "wharf container ls"
        self.description = description
        self.usage = usage
        self.interspersed = interspersed
        self.aliases = aliases
        self.flags: list[_Flag] = []
        self.positionals: list[_Positional] = []
        self._defaults: dict[str, Any] = {}

    # -- declaring ---------------------------------------------------------
    def add_argument(self, *names: str, action: str = "store", dest: str | None = None,
                     type: Callable[[str], Any] | None = None, default: Any = None,
                     help: str = "", metavar: str | None = None, nargs: Any = None,
                     choices: Any = None, **_ignored: Any) -> None:
        """argparse's signature for the parts docker's grammar needs."""
        if not names[0].startswith("-"):
            self.positionals.append(_Positional(dest or names[0], nargs, metavar))
            return
        long = next((n[2:] for n in names if n.startswith("--")), names[0].lstrip("-"))
        if default is None:
            default = {"store_true": False, "store_false": True, "append": [], "count": 0}.get(action)
        self.flags.append(_Flag(names, action, dest or long.replace("-", "_"), type, default,
                                help, metavar, choices))

    def set_defaults(self, **values: Any) -> None:
        self._defaults.update(values)

    # -- parsing -----------------------------------------------------------
    def parse_args(self, argv: list[str]) -> SimpleNamespace:
        values: dict[str, Any] = {f.dest: list(f.default) if isinstance(f.default, list) else f.default
                                  for f in self.flags}
        values.update(self._defaults)
        args: list[str] = []
        i = 0
        while i < len(argv):
            arg = argv[i]
            i += 1
            if arg == "--":
                args += argv[i:]
                break
            if not arg.startswith("-") or arg == "-":
                args.append(arg)
                if not self.interspersed:
                    args += argv[i:]
                    break
                continue
            if arg.startswith("--"):
                i = self._parse_long(arg[2:], argv, i, values)
            else:
                i = self._parse_shorts(arg[1:], argv, i, values)
        self._assign_positionals(args, values)
        return SimpleNamespace(**values)

    def _find_long(self, name: str) -> _Flag:
        for flag in self.flags:
            if flag.long == name or name in flag.hidden_longs:
                return flag
        if name == "help":
            raise HelpRequested()
        raise UsageError(f"unknown flag: --{name}")

    def _parse_long(self, body: str, argv: list[str], i: int, values: dict[str, Any]) -> int:
        name, eq, value = body.partition("=")
        flag = self._find_long(name)
        if not flag.takes_value:
            self._apply(flag, value if eq else None, values)
            return i
        if not eq:
            if i >= len(argv):
                raise UsageError(f"flag needs an argument: --{name}")
            value, i = argv[i], i + 1
        self._apply(flag, value, values)
        return i

    def _parse_shorts(self, body: str, argv: list[str], i: int, values: dict[str, Any]) -> int:
        pos = 0
        while pos < len(body):
            char = body[pos]
            flag = next((f for f in self.flags if f.short == char), None)
            if flag is None:
                if char == "h":
                    raise HelpRequested()
                raise UsageError(f"unknown shorthand flag: '{char}' in -{body}")
            rest = body[pos + 1:]
            if not flag.takes_value:
                if rest.startswith("="):
                    self._apply(flag, rest[1:], values)
                    return i
                self._apply(flag, None, values)
                pos += 1
                continue
            if rest:
                self._apply(flag, rest[1:] if rest.startswith("=") else rest, values)
                return i
            if i >= len(argv):
                raise UsageError(f"flag needs an argument: '{char}' in -{body}")
            self._apply(flag, argv[i], values)
            return i + 1
        return i

    def _apply(self, flag: _Flag, raw: str | None, values: dict[str, Any]) -> None:
        if flag.action == "count":
            values[flag.dest] += 1
            return
        if flag.action in ("store_true", "store_false"):
            on = True if raw is None else parse_bool(raw)
            if on is None:
                raise self._invalid(flag, raw or "", invalid_bool(raw or ""))
            values[flag.dest] = on if flag.action == "store_true" else not on
            return
        value: Any = raw
        if flag.type is not None:
            try:
                value = flag.type(raw or "")
            except ValueError as err:
                if flag.type in (int, float):
                    kind = "ParseInt" if flag.type is int else "ParseFloat"
                    raise self._invalid(flag, raw or "", f'strconv.{kind}: parsing "{raw}": invalid syntax')
                raise self._invalid(flag, raw or "", str(err)) from None
        if flag.choices is not None and value not in flag.choices:
            raise self._invalid(flag, raw or "", f"must be one of {', '.join(map(str, flag.choices))}")
        if flag.action == "append":
            values[flag.dest].append(value)
        else:
            values[flag.dest] = value

    @staticmethod
    def _invalid(flag: _Flag, raw: str, why: str) -> UsageError:
        return UsageError(f'invalid argument "{raw}" for "{flag.spelled()}" flag: {why}')

    def _assign_positionals(self, args: list[str], values: dict[str, Any]) -> None:
        need = sum(p.minimum for p in self.positionals)
        bounded = not any(p.unbounded for p in self.positionals)
        most = len(self.positionals) if bounded else None
        if len(args) < need or (most is not None and len(args) > most):
            raise self.arity_error(len(args), need, most)
        rest = list(args)
        for index, pos in enumerate(self.positionals):
            later = sum(p.minimum for p in self.positionals[index + 1:])
            if pos.nargs is None:
                values[pos.dest], rest = rest[0], rest[1:]
            elif pos.nargs == "?":
                take = len(rest) > later
                values[pos.dest] = rest[0] if take else None
                rest = rest[1:] if take else rest
            else:
                count = max(len(rest) - later, 0)
                values[pos.dest], rest = rest[:count], rest[count:]

    def arity_error(self, got: int, need: int, most: int | None) -> UsageError:
        """Docker's argument-count messages (cli/required.go wording)."""
        def plural(n: int) -> str:
            return f"{n} argument{'s' if n != 1 else ''}"
        if most == 0:
            text = f'"{self.command}" accepts no arguments.'
        elif most == need:
            text = f'"{self.command}" requires exactly {plural(need)}.'
        elif got < need:
            text = f'"{self.command}" requires at least {plural(need)}.'
        else:
            text = f'"{self.command}" requires at most {plural(most or 0)}.'
        return UsageError(text, status=1, show_usage=True)

    # -- help --------------------------------------------------------------
    def usage_line(self) -> str:
        if self.usage:
            return self.usage
        words = [self.command, "[OPTIONS]"] if self.flags else [self.command]
        for pos in self.positionals:
            if pos.nargs is None:
                words.append(pos.metavar)
            elif pos.nargs == "+":
                words.append(f"{pos.metavar} [{pos.metavar}...]")
            else:
                words.append(f"[{pos.metavar}...]" if pos.unbounded else f"[{pos.metavar}]")
        return " ".join(words)

    def format_help(self) -> str:
        """Cobra's layout: Usage, description, Aliases, Options (flag column + wrapped text)."""
        out = [f"\nUsage:  {self.usage_line()}\n"]
        if self.description:
            out.append(f"{self.description}\n")
        if self.aliases:
            out.append(f"Aliases:\n  {self.aliases}\n")
        if self.flags:
            out.append("Options:")
            out.append(format_flag_table(self.flags))
        return "\n".join(out) + "\n"

    def error_text(self, err: UsageError) -> str:
        """What docker prints for a bad command line."""
        text = f"{err.message}\nSee '{self.command} --help'.\n"
        if err.show_usage:
            text += f"\nUsage:  {self.usage_line()}\n"
            if self.description:
                text += f"\n{self.description}\n"
        return text


def format_flag_table(flags: list[_Flag], width: int = 80) -> str:
    """Flag lines aligned like cobra's, descriptions wrapped to ``width``."""
    import textwrap

    def left(flag: _Flag) -> str:
        short = f"-{flag.short}, " if flag.short else "    "
        long = f"--{flag.long}" if flag.long else ""
        return f"  {short}{long} {flag.metavar}".rstrip()

    ordered = sorted(flags, key=lambda f: (f.long or f.short or ""))
    lefts = [left(f) for f in ordered]
    column = max(len(s) for s in lefts) + 3
    lines = []
    for text, flag in zip(lefts, ordered):
        desc = flag.help + _default_note(flag)
        wrapped = textwrap.wrap(desc, max(width - column, 20)) or [""]
        lines.append(text.ljust(column) + wrapped[0])
        lines += [" " * column + more for more in wrapped[1:]]
    return "\n".join(lines)


def _default_note(flag: _Flag) -> str:
    value = flag.default
    if flag.action == "store_false" and value is True:
        return " (default true)"
    if value in (None, False, [], "", 0):
        return ""
    if isinstance(value, str):
        return f' (default "{value}")'
    if isinstance(value, bool):
        return " (default true)"
    return f" (default {value})"
