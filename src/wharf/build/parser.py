"""Dockerfile text to a flat list of instruction nodes, as Docker's parser reads it.

This is the syntax layer only: parser directives (``# escape=``,
``# syntax=``), comments, line continuations with the current escape
character (comment and empty lines inside a continuation are skipped),
heredocs, builder flags (``--from=x``) and how each instruction's arguments
are split (JSON array or shell form, key=value words, whitespace lists).
Whether an instruction exists and gets the right arguments is decided in
``wharf.build.instructions``; substitution happens later still, per step,
in ``wharf.build.expand``.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Callable

from wharf.build.shell_lex import ExpansionError, Lexer
from wharf.errors import InvalidParameter

DEFAULT_ESCAPE = "\\"
_WHITESPACE = re.compile(r"[\t\v\f\r ]+")
_DIRECTIVE = re.compile(r"^#\s*([a-zA-Z][a-zA-Z0-9]*)\s*=\s*(.+?)\s*$")
_HEREDOC = re.compile(r"^(\d*)<<(-?)([^<]*)$")
_LEADING_TABS = re.compile(r"^\t+", re.MULTILINE)
_KNOWN_DIRECTIVES = ("escape", "syntax", "check")  # check= (lint rules) is read and ignored
_HEREDOC_INSTRUCTIONS = ("run", "copy", "add")
_BOM = "\ufeff"


class ParseError(InvalidParameter):
    """A Dockerfile error at a line; ``str()`` is Docker's daemon wording."""

    def __init__(self, message: str, line: int, end_line: int | None = None) -> None:
        super().__init__(f"dockerfile parse error on line {line}: {message}")
        self.reason, self.line, self.end_line = message, line, end_line or line

    def located(self, filename: str = "Dockerfile") -> str:
        """The ``Dockerfile:7: unknown instruction: RNU`` form the CLI shows."""
        return f"{filename}:{self.line}: {self.reason}"


@dataclass(frozen=True)
class Heredoc:
    name: str
    content: str  # raw lines, newlines included, up to (not including) the terminator
    expand: bool  # False when any part of the delimiter word was quoted
    chomp: bool  # <<- : leading tabs are stripped from every line
    fd: int = 0  # RUN 3<<EOF

    @property
    def body(self) -> str:
        return _LEADING_TABS.sub("", self.content) if self.chomp else self.content


@dataclass
class Node:
    """One instruction as written: ``cmd`` lower-cased, arguments split per its kind."""

    cmd: str
    args: list[str]
    flags: list[str]
    original: str
    json: bool = False
    sub: "Node | None" = None  # ONBUILD's trigger instruction
    heredocs: list[Heredoc] = field(default_factory=list)
    line: int = 0
    end_line: int = 0

    def can_have_heredocs(self) -> bool:
        node = self.sub if self.cmd == "onbuild" and self.sub else self
        return node.cmd in _HEREDOC_INSTRUCTIONS and not node.json


@dataclass
class AST:
    nodes: list[Node]
    escape: str
    syntax: str | None
    warnings: list[str]


class _Directives:
    """Parser directives are only honoured before anything else, each once."""

    def __init__(self) -> None:
        self.escape = DEFAULT_ESCAPE
        self.syntax: str | None = None
        self.done = False
        self.seen: set[str] = set()
        self.continuation = _continuation_regex(DEFAULT_ESCAPE)

    def check(self, line: str) -> None:
        if self.done:
            return
        m = _DIRECTIVE.match(line)
        key = m.group(1).lower() if m else ""
        if key not in _KNOWN_DIRECTIVES:
            self.done = True
            return
        if key in self.seen:
            raise InvalidParameter(f"only one {key} parser directive can be used")
        self.seen.add(key)
        value = m.group(2)  # type: ignore[union-attr]
        if key == "syntax":
            self.syntax = value  # recorded only: the frontend image is never pulled
        elif key == "check":
            pass
        elif value not in ("`", "\\"):
            raise InvalidParameter(f"invalid escape token '{value}' does not match ` or \\")
        else:
            self.escape = value
            self.continuation = _continuation_regex(value)


def _continuation_regex(escape: str) -> re.Pattern[str]:
    # The escape as the last non-blank character continues the line, unless
    # it is itself escaped; alone on a line it continues too.
    e = re.escape(escape)
    return re.compile(rf"([^{e}]){e}[ \t]*$|^{e}[ \t]*$")


def _strip_newline(line: str) -> str:
    return line.rstrip("\r\n")


def _is_comment(line: str) -> bool:
    return _strip_newline(line).lstrip().startswith("#")


def parse(text: str) -> AST:
    """Split a Dockerfile into nodes with their line numbers (1-based)."""
    directives = _Directives()
    lines = text.splitlines(keepends=True)
    if lines and lines[0].startswith(_BOM):
        lines[0] = lines[0][len(_BOM):]
    nodes: list[Node] = []
    warnings: list[str] = []
    i = 0  # lines consumed == current line number

    def process(raw: str, strip_left: bool) -> str:
        token = _strip_newline(raw)
        if strip_left:
            token = token.lstrip()
        try:
            directives.check(token)
        except InvalidParameter as e:
            raise ParseError(e.message, i) from None
        return "" if token.startswith("#") else token

    def continued(text: str) -> tuple[str, bool]:
        if directives.continuation.search(text):
            return directives.continuation.sub(r"\1", text, count=1), False
        return text, True

    while i < len(lines):
        content = process(lines[i], strip_left=True)
        i += 1
        start = i
        line, done = continued(content)
        if done and line == "":
            continue
        empty_continuation = False
        while not done and i < len(lines):
            raw = lines[i]
            content = process(raw, strip_left=False)
            i += 1
            if _is_comment(raw):
                continue
            if not content.strip():
                empty_continuation = True
                continue
            part, done = continued(content)
            line += part
        if empty_continuation:
            warnings.append("[WARNING]: Empty continuation line found in:\n    " + line)
        try:
            node = _node_from_line(line, directives.escape)
        except InvalidParameter as e:
            raise ParseError(e.message, start, i) from None
        if node.can_have_heredocs():
            for doc in _heredocs_in(line, start, i):
                content_lines: list[str] = []
                while True:
                    if i >= len(lines):
                        raise ParseError("unterminated heredoc", start, i)
                    raw = lines[i]
                    i += 1
                    candidate = _strip_newline(raw)
                    if doc.chomp:
                        candidate = candidate.lstrip("\t")
                    if candidate == doc.name:
                        break
                    content_lines.append(raw)
                node.heredocs.append(Heredoc(doc.name, "".join(content_lines), doc.expand, doc.chomp, doc.fd))
        node.line, node.end_line = start, i
        nodes.append(node)
    if warnings:
        warnings.append("[WARNING]: Empty continuation lines will become errors in a future release.")
    if not nodes:
        raise ParseError("file with no instructions", i)
    return AST(nodes, directives.escape, directives.syntax, warnings)


def parse_heredoc_word(word: str) -> Heredoc | None:
    """The heredoc a word like ``<<EOF``, ``<<-"EOF"`` or ``3<<EOF`` opens, if any."""
    m = _HEREDOC.match(word)
    if not m or not m.group(3):
        return None
    fd, chomp, rest = m.groups()
    plain = Lexer(skip_unset=True).words(rest, {})
    if len(plain) != 1:
        return None
    raw = Lexer(skip_unset=True, raw_quotes=True).words(rest, {})
    # Quotes anywhere in the delimiter (e.g. <<"EOF" or <<E'O'F) disable expansion.
    quotes = lambda w: w.count("'") + w.count('"')  # noqa: E731
    return Heredoc(plain[0], "", quotes(plain[0]) == quotes(raw[0]), chomp == "-", int(fd or 0))


def _heredocs_in(line: str, start: int, end: int) -> list[Heredoc]:
    try:
        words = Lexer(raw_quotes=True, raw_escapes=True, skip_unset=True).words(line, {})
    except ExpansionError:
        return []
    docs = []
    for word in words:
        try:
            doc = parse_heredoc_word(word)
        except ExpansionError as e:
            raise ParseError(e.message, start, end) from None
        if doc is not None:
            docs.append(doc)
    return docs


def _node_from_line(line: str, escape: str) -> Node:
    parts = _WHITESPACE.split(line.strip(), maxsplit=1)
    cmd = parts[0].lower()
    rest, flags = _builder_flags(parts[1]) if len(parts) == 2 else ("", [])
    rest = rest.strip()
    if cmd == "onbuild":
        sub = _node_from_line(rest, escape) if rest else None
        return Node(cmd, [sub.cmd, *sub.args] if sub else [], flags, line, sub=sub, json=sub.json if sub else False)
    split = _ARG_SPLITTERS.get(cmd)
    if split is None:  # unknown instruction: reported with its line by the next layer
        return Node(cmd, [], flags, line)
    args, is_json = split(rest, escape)
    return Node(cmd, args, flags, line, json=is_json)


def _builder_flags(text: str) -> tuple[str, list[str]]:
    """Leading ``--name[=value]`` words (quotes and ``\\`` honoured), and the rest."""
    flags: list[str] = []
    i, n = 0, len(text)
    while True:
        while i < n and text[i].isspace():
            i += 1
        if i >= n:
            return "", flags
        if not text.startswith("--", i):
            return text[i:], flags
        word: list[str] = []
        quote = ""
        quoted = False
        while i < n:
            ch = text[i]
            if quote:
                if ch == quote:
                    quote = ""
                    i += 1
                    continue
            elif ch.isspace():
                break
            elif ch in "'\"":
                quote, quoted = ch, True
                i += 1
                continue
            if ch == "\\":
                i += 1
                if i >= n:
                    break
                ch = text[i]
            word.append(ch)
            i += 1
        value = "".join(word)
        if value == "--":
            return text[i:], flags
        if value or quoted:
            flags.append(value)


def _words(rest: str, escape: str) -> list[str]:
    """Whitespace-separated words; quotes (and escapes) are kept for later expansion."""
    words: list[str] = []
    word: list[str] = []
    quote = ""
    blank_ok = False
    i, n = 0, len(rest)
    while i < n:
        ch = rest[i]
        i += 1
        if not quote and ch.isspace():
            if word or blank_ok:
                words.append("".join(word))
            word, blank_ok = [], False
            continue
        if ch == escape and quote != "'":
            if i == n:
                break  # a trailing escape is dropped
            word.append(ch)
            ch = rest[i]
            i += 1
        elif quote and ch == quote:
            quote = ""
        elif not quote and ch in "'\"":
            quote, blank_ok = ch, True
        word.append(ch)
    if word or blank_ok:
        words.append("".join(word))
    return words


def _name_values(key: str) -> Callable[[str, str], tuple[list[str], bool]]:
    """ENV and LABEL: ``name=value ...`` words, or the legacy ``name value`` form."""

    def split(rest: str, escape: str) -> tuple[list[str], bool]:
        words = _words(rest, escape)
        if not words:
            return [], False
        if "=" not in words[0]:
            parts = _WHITESPACE.split(rest, maxsplit=1)
            if len(parts) < 2:
                raise InvalidParameter(f"{key} must have two arguments")
            return parts, False
        args: list[str] = []
        for word in words:
            if "=" not in word:
                raise InvalidParameter(f'Syntax error - can\'t find = in "{word}". Must be of the form: name=value')
            args.extend(word.split("=", 1))
        return args, False

    return split


def _arg_words(rest: str, escape: str) -> tuple[list[str], bool]:
    return _words(rest, escape), False


def _whitespace_list(rest: str, escape: str) -> tuple[list[str], bool]:
    return (_WHITESPACE.split(rest) if rest else []), False


def _one_string(rest: str, escape: str) -> tuple[list[str], bool]:
    return ([rest] if rest else []), False


def _json_array(rest: str) -> list[str] | None:
    """The strings of a JSON array, None if ``rest`` is not JSON at all."""
    rest = rest.lstrip()
    if not rest.startswith("["):
        return None
    try:
        value = json.loads(rest)
    except ValueError:
        return None  # malformed JSON: Docker falls back to the shell form
    if not isinstance(value, list):
        return None
    if not all(isinstance(v, str) for v in value):
        raise InvalidParameter("when using JSON array syntax, arrays must be comprised of strings only")
    return value


def _maybe_json(rest: str, escape: str) -> tuple[list[str], bool]:
    if not rest:
        return [], False
    array = _json_array(rest)
    return (array, True) if array is not None else ([rest], False)


def _maybe_json_list(rest: str, escape: str) -> tuple[list[str], bool]:
    array = _json_array(rest)
    return (array, True) if array is not None else _whitespace_list(rest, escape)


def _healthcheck(rest: str, escape: str) -> tuple[list[str], bool]:
    """``NONE`` or ``CMD`` then a command in either form."""
    parts = rest.split(None, 1)
    if not parts:
        return [], False
    command, is_json = _maybe_json(parts[1] if len(parts) > 1 else "", escape)
    return [parts[0], *command], is_json


_ARG_SPLITTERS: dict[str, Callable[[str, str], tuple[list[str], bool]]] = {
    "add": _maybe_json_list,
    "arg": _arg_words,
    "cmd": _maybe_json,
    "copy": _maybe_json_list,
    "entrypoint": _maybe_json,
    "env": _name_values("ENV"),
    "expose": _whitespace_list,
    "from": _whitespace_list,
    "healthcheck": _healthcheck,
    "label": _name_values("LABEL"),
    "maintainer": _one_string,
    "run": _maybe_json,
    "shell": _maybe_json,
    "stopsignal": _one_string,
    "user": _one_string,
    "volume": _maybe_json_list,
    "workdir": _one_string,
}
