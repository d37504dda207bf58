"""Docker's shell-like word processing for Dockerfile instructions.

The builder does not run a shell to expand ``$VAR`` in ENV, COPY, WORKDIR
and friends: it has its own small lexer with its own rules (quotes removed,
the Dockerfile's escape character instead of always ``\\``, ``${VAR:-w}``,
``${VAR:+w}``, ``${VAR?msg}``, ``${VAR#pat}``, ``${VAR%pat}``,
``${VAR/pat/rep}``, and word splitting done *after* substitution only on
unquoted text). Users rely on those exact rules, so this module follows
buildkit's ``shell.Lex`` behaviour case by case.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from wharf.errors import InvalidParameter

_SPECIAL_PARAMS = frozenset("@*#?-$!0")


class ExpansionError(InvalidParameter):
    """A substitution that Docker refuses (bad syntax, ``${X:?msg}`` unset)."""


@dataclass
class Result:
    word: str
    words: list[str]
    matched: set[str]
    unmatched: set[str]


class _Words:
    """Splits on unquoted whitespace while the result string is built."""

    def __init__(self) -> None:
        self.word = ""
        self.words: list[str] = []
        self.in_word = False

    def add_char(self, ch: str) -> None:
        if ch.isspace():
            if self.in_word and self.word:
                self.words.append(self.word)
                self.word, self.in_word = "", False
        else:
            self.add_raw(ch)

    def add_raw(self, text: str) -> None:
        self.word += text
        self.in_word = True

    def add_string(self, text: str) -> None:
        for ch in text:
            self.add_char(ch)

    def result(self) -> list[str]:
        if self.word:
            self.words.append(self.word)
            self.word, self.in_word = "", False
        return self.words


@dataclass
class Lexer:
    """One configuration of the lexer; ``process`` may be called many times.

    ``raw_quotes`` keeps quote characters in the output, ``raw_escapes`` keeps
    escape characters, ``skip_unset`` leaves references to unset variables as
    written (used to find heredoc names without expanding anything),
    ``skip_quotes`` makes quotes ordinary characters (heredoc bodies).
    """

    escape: str = "\\"
    raw_quotes: bool = False
    raw_escapes: bool = False
    skip_unset: bool = False
    skip_quotes: bool = False

    def word(self, text: str, env: dict[str, str]) -> str:
        """``text`` with substitutions done and quotes removed, as one string."""
        return self.process(text, env).word

    def words(self, text: str, env: dict[str, str]) -> list[str]:
        """``text`` expanded then split on whitespace outside quotes."""
        return self.process(text, env).words

    def process(self, text: str, env: dict[str, str]) -> Result:
        run = _Run(self, text, env)
        try:
            word, words = run.until("", self.raw_escapes)
        except ExpansionError as e:
            raise ExpansionError(f"failed to process {_go_quote(text)}: {e.message}") from None
        return Result(word, words, run.matched, run.unmatched)


@dataclass
class _Run:
    lex: Lexer
    text: str
    env: dict[str, str]
    pos: int = 0
    raw_escapes: bool = False
    matched: set[str] = field(default_factory=set)
    unmatched: set[str] = field(default_factory=set)

    def peek(self) -> str:
        return self.text[self.pos] if self.pos < len(self.text) else ""

    def next(self) -> str:
        ch = self.peek()
        self.pos += len(ch)
        return ch

    def until(self, stop: str, raw_escapes: bool) -> tuple[str, list[str]]:
        """Process up to (and consuming) ``stop``; ``""`` means end of input."""
        saved, self.raw_escapes = self.raw_escapes, raw_escapes
        try:
            return self._until(stop)
        finally:
            self.raw_escapes = saved

    def _until(self, stop: str) -> tuple[str, list[str]]:
        out: list[str] = []
        words = _Words()
        while (ch := self.peek()) != "":
            if stop and ch == stop:
                self.next()
                return "".join(out), words.result()
            if ch == "$":
                value = self.dollar()
                out.append(value)
                words.add_string(value)
            elif ch in "'\"" and self.lex.skip_quotes:
                self.next()
                out.append(ch)
                words.add_char(ch)
            elif ch == "'":
                value = self.single_quote()
                out.append(value)
                words.add_raw(value)
            elif ch == '"':
                value = self.double_quote()
                out.append(value)
                words.add_raw(value)
            else:
                self.next()
                if ch == self.lex.escape:
                    if self.raw_escapes:
                        words.add_raw(ch)
                        out.append(ch)
                    ch = self.next()
                    if ch == "":
                        break
                    words.add_raw(ch)
                else:
                    words.add_char(ch)
                out.append(ch)
        if stop:
            raise ExpansionError(f"unexpected end of statement while looking for matching {stop}")
        return "".join(out), words.result()

    def single_quote(self) -> str:
        """Everything up to the next ``'`` verbatim: nothing escapes inside."""
        quote = self.next()
        out = [quote] if self.lex.raw_quotes else []
        while True:
            ch = self.next()
            if ch == "":
                raise ExpansionError("unexpected end of statement while looking for matching single-quote")
            if ch == "'":
                if self.lex.raw_quotes:
                    out.append(ch)
                return "".join(out)
            out.append(ch)

    def double_quote(self) -> str:
        """Up to the next ``"``: ``$`` expands, the escape only escapes ``" $`` and itself."""
        quote = self.next()
        out = [quote] if self.lex.raw_quotes else []
        while True:
            ch = self.peek()
            if ch == "":
                raise ExpansionError("unexpected end of statement while looking for matching double-quote")
            if ch == '"':
                self.next()
                if self.lex.raw_quotes:
                    out.append(ch)
                return "".join(out)
            if ch == "$":
                out.append(self.dollar())
                continue
            self.next()
            if ch == self.lex.escape:
                if self.raw_escapes:
                    out.append(ch)
                following = self.peek()
                if following == "":
                    continue
                if following in ('"', "$", self.lex.escape):
                    ch = self.next()
            out.append(ch)

    def lookup(self, name: str) -> str | None:
        if name in self.env:
            self.matched.add(name)
            return self.env[name]
        self.unmatched.add(name)
        return None

    def name(self) -> str:
        """A variable name: letters/digits/_; a run of digits; or one special parameter."""
        ch = self.peek()
        if ch.isdigit():
            start = self.pos
            while self.peek().isdigit():
                self.next()
            return self.text[start:self.pos]
        if ch in _SPECIAL_PARAMS and ch:
            return self.next()
        start = self.pos
        while (ch := self.peek()) and (ch.isalnum() or ch == "_"):
            self.next()
        return self.text[start:self.pos]

    def dollar(self) -> str:
        self.next()
        if self.peek() != "{":
            name = self.name()
            if not name:
                return "$"
            value = self.lookup(name)
            if value is None:
                return "$" + name if self.lex.skip_unset else ""
            return value
        self.next()
        ch = self.peek()
        if ch == "":
            raise ExpansionError("syntax error: missing '}'")
        if ch in "{}:":
            raise ExpansionError("syntax error: bad substitution")
        name = self.name()
        op = self.next()
        if op == "}":
            value = self.lookup(name)
            if value is None:
                return "${%s}" % name if self.lex.skip_unset else ""
            return value
        if op == "/":
            return self.replace(name)
        null_is_unset = op == ":"
        if null_is_unset:
            op = self.next()
            modifier = ":" + op
        else:
            modifier = op
        if op == "":
            raise ExpansionError("syntax error: missing '}'")
        if op not in ("+", "-", "?", "#", "%"):
            raise ExpansionError(f"unsupported modifier ({modifier}) in substitution")
        word = self.operand("}", op in "#%")
        value = self.lookup(name)
        if value is None and self.lex.skip_unset:
            return "${%s%s%s}" % (name, modifier, word)
        empty = value is None or (null_is_unset and value == "")
        if op == "-":
            return word if empty else value  # type: ignore[return-value]
        if op == "+":
            return "" if empty else word
        if op == "?":
            if value is None:
                raise ExpansionError(f"{name}: {word or 'is not allowed to be unset'}")
            if empty:
                raise ExpansionError(f"{name}: {word or 'is not allowed to be empty'}")
            return value
        greedy = word.startswith(op)
        if greedy:
            word = word[1:]
        if op == "%":
            return _trim_suffix(word, value or "", greedy)
        return _trim_prefix(word, value or "", greedy)

    def operand(self, stop: str, raw_escapes: bool) -> str:
        try:
            return self.until(stop, raw_escapes)[0]
        except ExpansionError:
            if self.peek() == "":
                raise ExpansionError("syntax error: missing '}'" if stop == "}" else "syntax error: missing '/' in ${}") from None
            raise

    def replace(self, name: str) -> str:
        """``${VAR/pattern/replacement}`` (``//`` for every match)."""
        every = self.peek() == "/"
        if every:
            self.next()
        pattern = self.operand("/", True)
        replacement = self.operand("}", True)
        value = self.lookup(name)
        if value is None and self.lex.skip_unset:
            return "${%s/%s/%s}" % (name, pattern, replacement)
        regex = _pattern_regex(pattern, greedy=True, anchored=False)
        return regex.sub(lambda _: replacement, value or "", count=0 if every else 1)


def _pattern_regex(pattern: str, greedy: bool, anchored: bool) -> re.Pattern[str]:
    """A shell wildcard pattern (``*``, ``?``, ``\\`` escapes, no brackets) as a regex."""
    out = ["^"] if anchored else []
    star = ".*" if greedy else ".*?"
    i = 0
    while i < len(pattern):
        ch = pattern[i]
        i += 1
        if ch == "*":
            out.append(star)
        elif ch == "?":
            out.append(".")
        elif ch == "\\":
            following = pattern[i] if i < len(pattern) else ""
            if following in ("}", "/"):
                continue  # escaped to get past ${...} parsing; literal from here
            if following not in ("*", "?", "\\"):
                raise ExpansionError(f"invalid pattern ({pattern}) in substitution: invalid escape '\\{following}'")
            out.append(re.escape(following))
            i += 1
        else:
            out.append(re.escape(ch))
    return re.compile("".join(out), re.DOTALL)


def _trim_prefix(pattern: str, value: str, greedy: bool) -> str:
    m = _pattern_regex(pattern, greedy, anchored=True).search(value)
    return value[m.end():] if m else value


def _reverse_pattern(pattern: str) -> str:
    """Reverse a pattern keeping each ``\\x`` escape pair in order."""
    tokens: list[str] = []
    i = 0
    while i < len(pattern):
        if pattern[i] == "\\" and i + 1 < len(pattern):
            tokens.append(pattern[i:i + 2])
            i += 2
        else:
            tokens.append(pattern[i])
            i += 1
    return "".join(reversed(tokens))


def _trim_suffix(pattern: str, value: str, greedy: bool) -> str:
    # Shortest/longest rightmost match = leftmost match on the reversed strings.
    return _trim_prefix(_reverse_pattern(pattern), value[::-1], greedy)[::-1]


def _go_quote(text: str) -> str:
    """Go's %q for the common printable case (what Docker's messages show)."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n").replace("\t", "\\t") + '"'
