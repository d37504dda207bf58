"""Go's ``filepath.Match`` for COPY/ADD source globs and pattern validation.

Python's fnmatch differs in ways users notice (its ``*`` crosses ``/``, it
negates classes with ``!`` instead of ``^``, it never reports a malformed
pattern), so Docker's semantics are compiled to a regex here.
"""

from __future__ import annotations

import re
from functools import lru_cache

from wharf.errors import InvalidParameter


class BadPattern(InvalidParameter):
    def __init__(self, pattern: str) -> None:
        super().__init__("syntax error in pattern")
        self.pattern = pattern


def has_wildcards(text: str) -> bool:
    return any(ch in text for ch in "*?[\\")


def match(pattern: str, name: str) -> bool:
    """Whether ``name`` matches all of ``pattern`` (``*`` and ``?`` stop at ``/``)."""
    return compile_glob(pattern).fullmatch(name) is not None


@lru_cache(maxsize=1024)
def compile_glob(pattern: str) -> re.Pattern[str]:
    return re.compile(translate(pattern), re.DOTALL)


def translate(pattern: str, double_star: bool = False) -> str:
    """The regex for a glob; ``double_star`` adds .dockerignore's ``**`` (any depth)."""
    out: list[str] = []
    i, n = 0, len(pattern)
    while i < n:
        ch = pattern[i]
        i += 1
        if ch == "*" and double_star and pattern.startswith("*", i):
            i += 1 + pattern.startswith("/", i + 1)  # "**/" is "**"
            out.append(".*" if i >= n else "(.*/)?")
        elif ch == "*":
            out.append("[^/]*")
        elif ch == "?":
            out.append("[^/]")
        elif ch == "\\":
            if i >= n:
                raise BadPattern(pattern)
            out.append(re.escape(pattern[i]))
            i += 1
        elif ch == "[":
            cls, i = char_class(pattern, i)
            out.append(cls)
        else:
            out.append(re.escape(ch))
    return "".join(out)


def char_class(pattern: str, i: int) -> tuple[str, int]:
    """A ``[...]`` class starting after its ``[``; ``^`` negates; ranges ``a-z``."""
    n = len(pattern)
    negate = i < n and pattern[i] == "^"
    i += negate
    parts: list[str] = []
    first = True
    while True:
        if i >= n:
            raise BadPattern(pattern)
        if pattern[i] == "]" and not first:
            i += 1
            break
        first = False
        lo, i = _class_char(pattern, i)
        if i < n and pattern[i] == "-":
            hi, i = _class_char(pattern, i + 1)
            if hi < lo:
                raise BadPattern(pattern)
            parts.append(f"{re.escape(lo)}-{re.escape(hi)}")
        else:
            parts.append(re.escape(lo))
    return ("[^/" if negate else "[") + "".join(parts) + "]", i


def _class_char(pattern: str, i: int) -> tuple[str, int]:
    n = len(pattern)
    if i >= n or pattern[i] in "-]":
        raise BadPattern(pattern)
    if pattern[i] == "\\":
        i += 1
        if i >= n:
            raise BadPattern(pattern)
    return pattern[i], i + 1
