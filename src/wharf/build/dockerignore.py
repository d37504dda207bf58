"""``.dockerignore``: which context paths the client leaves out of the tar.

Docker's rules (moby/patternmatcher): one pattern a line, ``#`` comments,
patterns cleaned (``./a`` and ``/a`` mean ``a``), ``*`` and ``?`` within one
path element, ``**`` across any number of them, ``!`` makes an exception,
and the last matching pattern wins. A pattern that matches a directory
matches everything under it, yet a later exception can bring a file back.
"""

from __future__ import annotations

import posixpath
import re
from typing import NamedTuple

from wharf.build.gomatch import BadPattern, compile_glob, translate
from wharf.errors import InvalidParameter


def read_patterns(text: str) -> list[str]:
    """The patterns of a ``.dockerignore`` file, normalised as the docker CLI does."""
    out: list[str] = []
    for i, line in enumerate(text.splitlines()):
        if i == 0:
            line = line.removeprefix("\ufeff")
        if line.startswith("#"):
            continue
        pattern = line.strip()
        if not pattern:
            continue
        invert = pattern.startswith("!")
        if invert:
            pattern = pattern[1:].strip()
        if pattern:
            pattern = posixpath.normpath(pattern)
            if len(pattern) > 1 and pattern.startswith("/"):
                pattern = pattern.lstrip("/") or "/"
        out.append("!" + pattern if invert else pattern)
    return out


class _Pattern(NamedTuple):  # not a dataclass: the CLI imports this, dataclasses costs it ms
    text: str  # cleaned, without the "!"
    exclusion: bool
    regex: re.Pattern[str]

    def matches(self, path: str) -> bool:
        return self.regex.match(path) is not None


class PatternMatcher:
    """Decides, for a slash-separated path relative to the context, whether it is ignored."""

    def __init__(self, patterns: list[str]) -> None:
        self.patterns: list[_Pattern] = []
        for raw in patterns:
            text = raw.strip()
            if not text:
                continue
            text = posixpath.normpath(text)
            exclusion = text.startswith("!")
            if exclusion:
                if len(text) == 1:
                    raise InvalidParameter('illegal exclusion pattern: "!"')
                text = text[1:]
            try:
                compile_glob(text)  # Docker validates with filepath.Match first
            except BadPattern:
                raise InvalidParameter(f"syntax error in pattern: {raw}") from None
            self.patterns.append(_Pattern(text, exclusion, _compile(text)))

    @property
    def has_exclusions(self) -> bool:
        return any(p.exclusion for p in self.patterns)

    def matches(self, path: str) -> bool:
        """Ignored: the last pattern matching the path or one of its parent dirs decides."""
        path = posixpath.normpath(path)
        parent = posixpath.dirname(path)
        parents = parent.split("/") if parent else []
        matched = False
        for pattern in self.patterns:
            if pattern.exclusion != matched:
                continue  # cannot change the answer
            hit = pattern.matches(path) or any(
                pattern.matches("/".join(parents[:i + 1])) for i in range(len(parents)))
            if hit:
                matched = not pattern.exclusion
        return matched

    def must_walk(self, directory: str) -> bool:
        """An ignored directory must still be walked if an exception may re-include under it."""
        prefix = directory.rstrip("/") + "/"
        return any(p.exclusion and (p.text + "/").startswith(prefix) for p in self.patterns)


def _compile(pattern: str) -> re.Pattern[str]:
    """A dockerignore pattern as an anchored regex (``**`` crosses directories)."""
    return re.compile("^" + translate(pattern, double_star=True) + "$", re.DOTALL)


def keep_build_files(patterns: list[str], dockerfile: str | None) -> list[str]:
    """The docker CLI always sends ``.dockerignore`` and the Dockerfile, even if ignored.

    ``dockerfile`` is its path in the context, None when it comes from stdin.
    The daemon removes them again after reading them (see ``context``).
    """
    out = list(patterns)
    names = [".dockerignore"] + ([dockerfile] if dockerfile else [])
    for name in names:
        if PatternMatcher(patterns).matches(name):
            out.append("!" + name)
    return out
