"""Docker's time formats: RFC3339Nano stamps, "since/until" arguments, and the
human durations of ``docker ps`` ("Up 3 seconds", "Exited (0) 2 minutes ago").

Timestamps are kept as nanoseconds since the epoch (ints) in memory and as
RFC3339Nano strings on the wire and on disk, like Docker; Go's zero time
("0001-01-01T00:00:00Z") means "never".
"""

from __future__ import annotations

import re
import time
from datetime import datetime, timezone

ZERO_TIME = "0001-01-01T00:00:00Z"

_DURATION_UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}
_DURATION_RE = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h)")


def rfc3339nano(ns: int) -> str:
    """Go's time.RFC3339Nano in UTC: fractional seconds with trailing zeros trimmed."""
    if ns <= 0:
        return ZERO_TIME
    secs, frac = divmod(ns, 1_000_000_000)
    base = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(secs))
    digits = f"{frac:09d}".rstrip("0")
    return f"{base}.{digits}Z" if digits else f"{base}Z"


def parse_rfc3339(value: str) -> int:
    """Nanoseconds since the epoch of an RFC3339(Nano) stamp; 0 for Go's zero time."""
    if not value or value.startswith("0001-01-01"):
        return 0
    m = re.match(r"^(.*?T\d\d:\d\d:\d\d)(?:\.(\d+))?(Z|[+-]\d\d:\d\d)?$", value)
    if not m:
        raise ValueError(f"invalid timestamp {value!r}")
    head, frac, zone = m.group(1), m.group(2) or "", m.group(3) or "Z"
    dt = datetime.fromisoformat(head + ("+00:00" if zone == "Z" else zone))
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=timezone.utc)
    return int(dt.timestamp()) * 1_000_000_000 + int((frac + "000000000")[:9])


def parse_go_duration(value: str) -> float | None:
    """Seconds in a Go duration like "1h30m" or "10s"; None if it is not one."""
    if not value or _DURATION_RE.sub("", value.lstrip("-")) != "":
        return None
    total = sum(float(n) * _DURATION_UNITS[u] for n, u in _DURATION_RE.findall(value))
    return -total if value.startswith("-") else total


def timestamp_ns(value: str) -> int:
    """``parse_timestamp`` in nanoseconds, exact for the CLI's "sec.nanoseconds" form
    (a float holds a 2020s time to ~0.2 µs only: log lines closer than that would
    land on the wrong side of a ``--since``)."""
    sec, dot, frac = value.partition(".")
    if sec.isdigit() and (not dot or frac.isdigit()):
        return int(sec) * 1_000_000_000 + int((frac + "000000000")[:9])
    return int(parse_timestamp(value) * 1e9)


def parse_timestamp(value: str, now: float | None = None) -> float:
    """Seconds since the epoch for a since/until argument, as Docker accepts them:
    a unix time ("1700000000.5"), an RFC3339 date, or a duration back from now ("10m")."""
    now = time.time() if now is None else now
    try:
        return float(value)
    except ValueError:
        pass
    duration = parse_go_duration(value)
    if duration is not None:
        return now - duration
    try:
        if "T" not in value:
            value += "T00:00:00"
        return parse_rfc3339(value) / 1e9
    except ValueError:
        raise ValueError(f"failed to parse value as time or duration: {value!r}") from None
