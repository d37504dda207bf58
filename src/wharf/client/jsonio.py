"""JSON for the client's requests and answers, without importing ``json``.

``json.decoder`` imports ``re`` (enum, the regex compiler: about 6 ms of a
~50 ms ``wharf run``) for code paths the C accelerator never takes. This is
the same C encoder and scanner (``_json``) that ``json.dumps``/``json.loads``
use by default, with their default settings, minus the ``re`` import. A
malformed document still raises ``json.JSONDecodeError`` (``_json`` imports
``json.decoder`` for the error only).
"""

from __future__ import annotations

import _json
TYPE_CHECKING = False  # typing costs the CLI ~6 ms of import time
if TYPE_CHECKING:
    from typing import Any

_WHITESPACE = " \t\n\r"


class _Defaults:
    """What ``_json.make_scanner`` reads from a ``json.JSONDecoder()``."""

    strict = True
    object_hook = None
    object_pairs_hook = None
    parse_float = float
    parse_int = int
    parse_constant = {"NaN": float("nan"), "Infinity": float("inf"),
                      "-Infinity": float("-inf")}.__getitem__


def _unserializable(obj: Any) -> Any:
    raise TypeError(f"Object of type {type(obj).__name__} is not JSON serializable")


_scan = _json.make_scanner(_Defaults())
#: markers, default, encoder, indent, key/item separators, sort_keys, skipkeys, allow_nan
_encode = _json.make_encoder(None, _unserializable, _json.encode_basestring_ascii, None,
                             ":", ",", False, False, True)


def dumps(obj: Any) -> bytes:
    """Compact JSON, ASCII-escaped as ``json.dumps`` does (dict keys must be strings)."""
    return "".join(_encode(obj, 0)).encode()


def loads(data: bytes | str) -> Any:
    """One JSON document; ``ValueError`` (``json.JSONDecodeError``) when it is not one."""
    text = data.decode() if isinstance(data, (bytes, bytearray)) else data
    start = len(text) - len(text.lstrip(_WHITESPACE))
    try:
        value, end = _scan(text, start)
    except StopIteration as e:
        from json import JSONDecodeError
        raise JSONDecodeError("Expecting value", text, e.value) from None
    if text[end:].strip(_WHITESPACE):
        from json import JSONDecodeError
        raise JSONDecodeError("Extra data", text, end)
    return value
