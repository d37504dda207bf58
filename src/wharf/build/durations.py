"""Go's ``time.ParseDuration``, because Dockerfiles (HEALTHCHECK --interval=1m30s)
and Docker's API use its syntax and nanosecond values."""

from __future__ import annotations

import re

from wharf.errors import InvalidParameter

_UNITS = {"ns": 1, "us": 1_000, "µs": 1_000, "μs": 1_000, "ms": 1_000_000,
          "s": 1_000_000_000, "m": 60_000_000_000, "h": 3_600_000_000_000}
_PART = re.compile(r"(\d*)(?:\.(\d*))?([^\d.]*)")


def parse(text: str) -> int:
    """Nanoseconds for ``"1h2m3.5s"``, ``"300ms"``, ``"-1.5h"``, ``"0"``; Go's errors otherwise."""
    rest = text
    sign = -1 if rest.startswith("-") else 1
    rest = rest[1:] if rest[:1] in "+-" else rest
    if rest == "0":
        return 0
    if not rest:
        raise InvalidParameter(f'time: invalid duration "{text}"')
    total = 0
    while rest:
        m = _PART.match(rest)
        whole, frac, unit = m.group(1), m.group(2), m.group(3)  # type: ignore[union-attr]
        if not whole and not frac:
            raise InvalidParameter(f'time: invalid duration "{text}"')
        if not unit:
            raise InvalidParameter(f'time: missing unit in duration "{text}"')
        if unit not in _UNITS:
            raise InvalidParameter(f'time: unknown unit "{unit}" in duration "{text}"')
        scale = _UNITS[unit]
        total += int(whole or 0) * scale
        if frac:
            total += int(frac) * scale // 10 ** len(frac)
        rest = rest[m.end():]  # type: ignore[union-attr]
    return sign * total


def format(ns: int) -> str:  # noqa: A001 - mirrors Go's Duration.String
    """Go's ``Duration.String``: ``1h30m0s``, ``1.5s``, ``300ms``, ``0s``."""
    if ns == 0:
        return "0s"
    sign, ns = ("-", -ns) if ns < 0 else ("", ns)
    if ns < 1_000_000_000:
        for unit, scale in (("ms", 1_000_000), ("µs", 1_000), ("ns", 1)):
            if ns >= scale:
                return sign + _fraction(ns, scale) + unit
    hours, rest = divmod(ns, 3_600_000_000_000)
    minutes, rest = divmod(rest, 60_000_000_000)
    out = sign
    if hours:
        out += f"{hours}h"
    if hours or minutes:
        out += f"{minutes}m"
    return out + _fraction(rest, 1_000_000_000) + "s"


def _fraction(value: int, scale: int) -> str:
    whole, frac = divmod(value, scale)
    if not frac:
        return str(whole)
    digits = str(frac).rjust(len(str(scale)) - 1, "0").rstrip("0")
    return f"{whole}.{digits}"
