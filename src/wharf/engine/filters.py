"""Docker's ``filters`` query argument: parsing, validation and the matchers
shared by container listing and event streams.

The wire form is JSON, either ``{"status": ["running"]}`` or the legacy
``{"status": {"running": true}}``; both become ``{key: [values]}``.
"""

from __future__ import annotations

import json
from typing import Iterable, Mapping

from wharf.errors import InvalidParameter

Filters = dict[str, list[str]]


def parse(raw: str | None, allowed: Iterable[str]) -> Filters:
    """Decode a filters argument and reject keys the endpoint does not know."""
    if not raw:
        return {}
    try:
        decoded = json.loads(raw)
    except ValueError:
        raise InvalidParameter(f"invalid filter: {raw}") from None
    if not isinstance(decoded, dict):
        raise InvalidParameter(f"invalid filter: {raw}")
    out: Filters = {}
    for key, values in decoded.items():
        if isinstance(values, dict):
            values = [v for v, on in values.items() if on]
        elif isinstance(values, str):
            values = [values]
        out[key] = [str(v) for v in values]
    allowed = set(allowed)
    for key in out:
        if key not in allowed:
            raise InvalidParameter(f"invalid filter '{key}'")
    return out


def match_labels(labels: Mapping[str, str], wanted: list[str]) -> bool:
    """Every ``key`` or ``key=value`` (``key!=value``) in ``wanted`` holds for ``labels``."""
    for item in wanted:
        if "!=" in item:
            key, value = item.split("!=", 1)
            if labels.get(key) == value:
                return False
        elif "=" in item:
            key, value = item.split("=", 1)
            if labels.get(key) != value:
                return False
        elif item not in labels:
            return False
    return True


def match_any(value: str, wanted: list[str] | None) -> bool:
    """No filter for this key, or ``value`` is one of the wanted ones."""
    return not wanted or value in wanted
