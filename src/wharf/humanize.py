"""Human words for durations, shared by the daemon (``ps`` status) and the CLI (ages),
and durations as Go prints them (dockerd's messages).

Kept at the top of the package, with no imports, so the CLI can use it
without pulling in the engine.
"""

from __future__ import annotations


def human_duration(seconds: float) -> str:
    """go-units HumanDuration: ``Less than a second``, ``About a minute``, ``3 hours``."""
    secs = int(seconds)
    if secs < 1:
        return "Less than a second"
    if secs == 1:
        return "1 second"
    if secs < 60:
        return f"{secs} seconds"
    minutes = secs // 60
    if minutes == 1:
        return "About a minute"
    if minutes < 60:
        return f"{minutes} minutes"
    hours = int(round(seconds / 3600))
    if hours == 1:
        return "About an hour"
    if hours < 48:
        return f"{hours} hours"
    if hours < 24 * 7 * 2:
        return f"{hours // 24} days"
    if hours < 24 * 30 * 2:
        return f"{hours // 24 // 7} weeks"
    if hours < 24 * 365 * 2:
        return f"{hours // 24 // 30} months"
    return f"{int(seconds / 3600) // 24 // 365} years"


def go_duration(seconds: float) -> str:
    """Go's ``time.Duration.String()``, as dockerd prints a duration in a message
    ("Health check exceeded timeout (300ms)"): ``1h2m3.5s``, ``1.5s``, ``300ms``,
    ``2µs``, ``0s``."""
    ns = round(seconds * 1e9)
    sign, ns = ("-" if ns < 0 else ""), abs(ns)
    if ns == 0:
        return "0s"
    for unit, name in ((1, "ns"), (10**3, "µs"), (10**6, "ms")):
        if ns < unit * 1000:
            return f"{sign}{_decimal(ns, unit)}{name}"
    hours, rest = divmod(ns, 3600 * 10**9)
    minutes, rest = divmod(rest, 60 * 10**9)
    text = f"{_decimal(rest, 10**9)}s"
    if hours or minutes:
        text = f"{minutes}m{text}"
    return f"{sign}{hours}h{text}" if hours else sign + text


def _decimal(value: int, unit: int) -> str:
    """``value / unit`` with as many decimals as it takes, none when whole."""
    whole, fraction = divmod(value, unit)
    digits = str(fraction).rjust(len(str(unit)) - 1, "0").rstrip("0") if unit > 1 else ""
    return f"{whole}.{digits}" if digits else str(whole)
