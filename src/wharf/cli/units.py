"""Docker's human units: sizes and durations, both printed and parsed.

Printing follows go-units (``HumanSizeWithPrecision(x, 3)``: decimal, 3
significant digits; ``BytesSize``: binary, 4 digits; ``HumanDuration``);
parsing follows ``RAMInBytes`` (``-m 512m``: binary multipliers) and the
CLI's ``--cpus`` / ``--since`` handling.
"""

from __future__ import annotations

import time

from wharf.humanize import human_duration

_DECIMAL = ("B", "kB", "MB", "GB", "TB", "PB", "EB", "ZB", "YB")
_BINARY = ("B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB", "ZiB", "YiB")
# Patterns, not compiled ones: ``re`` is imported on first use, off ``run``'s common path.
_RAM = r"^(\d+(?:\.\d+)*) ?([kKmMgGtTpP])?[iI]?[bB]?$"
_DURATION_PART = r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h)"
_DURATION_UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1, "m": 60, "h": 3600}


def _scaled(size: float, base: float, units: tuple[str, ...], precision: int) -> str:
    i = 0
    while size >= base and i < len(units) - 1:
        size /= base
        i += 1
    return f"{size:.{precision}g}{units[i]}"


def human_size(size: float, digits: int = 3) -> str:
    """``4.26MB``, ``1.2kB``, ``648B`` (decimal, 3 significant digits; go-units'
    ``HumanSize``, which docker uses for shared/unique sizes and ``system df``, is 4)."""
    return _scaled(float(size), 1000.0, _DECIMAL, digits)


def bytes_size(size: float) -> str:
    """``1.5MiB``, ``7.637GiB`` (binary, 4 significant digits): stats' memory column."""
    return _scaled(float(size), 1024.0, _BINARY, 4)


def ram_in_bytes(text: str) -> int:
    """Parse ``512m``, ``1g``, ``1.5GB``, ``100`` into bytes (k = 1024)."""
    import re
    match = re.match(_RAM, text)
    if not match:
        raise ValueError(f"invalid size: '{text}'")
    number = float(match.group(1))
    unit = (match.group(2) or "").lower()
    return int(number * 1024 ** " kmgtp".index(unit or " "))


def mem_bytes(text: str) -> int:
    """A memory flag's value; ``-1`` (unlimited swap) passes through as docker's MemSwapBytes does."""
    return -1 if text == "-1" else ram_in_bytes(text)


def nano_cpus(text: str) -> int:
    """``--cpus 1.5`` → 1500000000 (docker's NanoCPUs)."""
    try:
        value = float(text)
    except ValueError:
        raise ValueError(f"failed to parse {text} as a rational number") from None
    return int(round(value * 1e9))


def parse_duration(text: str) -> float:
    """Seconds from a Go duration (``1h30m``, ``42m``, ``10s``, ``500ms``)."""
    if text in ("0", ""):
        return 0.0
    sign = -1 if text.startswith("-") else 1
    body = text.lstrip("+-")
    import re
    parts = re.findall(_DURATION_PART, body)
    if not parts or "".join(n + u for n, u in parts) != body:
        raise ValueError(f'time: invalid duration "{text}"')
    return sign * sum(float(n) * _DURATION_UNITS[u] for n, u in parts)


def ago(timestamp: float, now: float | None = None) -> str:
    """The CREATED column: ``2 minutes ago``."""
    return human_duration((now if now is not None else time.time()) - timestamp) + " ago"


def parse_rfc3339(text: str) -> float:
    """Unix seconds from an RFC 3339 time with up to nanoseconds (``…T13:23:37.123456789Z``)."""
    import re
    from datetime import datetime
    match = re.match(r"^(\d{4}-\d\d-\d\d(?:[T ]\d\d:\d\d(?::\d\d)?)?)(\.\d+)?(Z|[+-]\d\d:?\d\d)?$", text)
    if not match:
        raise ValueError(f"invalid timestamp: {text!r}")
    base, frac, zone = match.groups()
    stamp = datetime.fromisoformat(base.replace(" ", "T") + _zone(zone))
    return stamp.timestamp() + (float(frac) if frac else 0.0)


def _zone(zone: str | None) -> str:
    if zone in (None, "Z"):
        return "+00:00"
    return zone if ":" in zone else f"{zone[:3]}:{zone[3:]}"


def api_timestamp(text: str, now: float | None = None) -> str:
    """What the client sends for ``--since``/``--until``: docker's timetypes.GetTimestamp.

    A Go duration means that long before now, a date is converted to unix
    seconds, a number passes through.
    """
    import re
    if re.fullmatch(r"\d+(\.\d+)?", text):
        return text
    now = time.time() if now is None else now
    try:
        stamp = now - parse_duration(text)
    except ValueError:
        stamp = parse_rfc3339(text)
    return f"{int(stamp)}.{int(round((stamp % 1) * 1e9)):09d}"
