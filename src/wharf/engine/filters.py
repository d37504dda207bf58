"""Docker's ``filters`` query argument: parsing, validation and the matchers
shared by container listing and event streams.

The wire form is JSON, either ``{"status": ["running"]}`` or the legacy
``{"status": {"running": true}}``; both become ``{key: [values]}``.
"""

from __future__ import annotations

import json
from typing import Iterable, Mapping

from wharf.engine.timefmt import parse_timestamp
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


def until_ns(f: Filters) -> int | None:
    """A prune's ``until`` (a timestamp, RFC 3339 time or duration ago) in ns, or None."""
    if not f.get("until"):
        return None
    try:
        return int(parse_timestamp(f["until"][0]) * 1e9)
    except ValueError as e:
        raise InvalidParameter(str(e)) from None


def prune_labels(labels: Mapping[str, str], f: Filters) -> bool:
    """A prune's ``label`` filters all hold and none of its ``label!`` ones does."""
    return match_labels(labels, f.get("label", [])) and \
        not any(match_labels(labels, [v]) for v in f.get("label!", []))


def match_any(value: str, wanted: list[str] | None) -> bool:
    """No filter for this key, or ``value`` is one of the wanted ones."""
    return not wanted or value in wanted
