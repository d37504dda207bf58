"""Go's ``strconv.ParseBool``: the words Docker takes for a boolean.

dockerd, the docker CLI's flags (``--rm=false``), log options (``compress``)
and BuildKit's ``--mount`` options all parse booleans with it, so a value one
of them takes the others take too. One table, small enough for the CLI's
import path.
"""

from __future__ import annotations

_WORDS = {"1": True, "t": True, "T": True, "TRUE": True, "true": True, "True": True,
          "0": False, "f": False, "F": False, "FALSE": False, "false": False, "False": False}


def parse_bool(text: str) -> bool | None:
    """True or False as Go reads ``text``; None where Go answers "invalid syntax"."""
    return _WORDS.get(text)


def invalid_bool(text: str) -> str:
    """Go's error for a word it does not take, as Docker passes it on."""
    return f'strconv.ParseBool: parsing "{text}": invalid syntax'
