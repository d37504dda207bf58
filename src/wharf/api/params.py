"""Request decoding shared by every route module: query flags and numbers the
way Docker's httputils reads them, and JSON bodies that fail with a 400 (not a
500) when malformed and a 413 when over ``JSON_BODY_LIMIT``.

JSON bodies are the only ones read whole (aiohttp's ``client_max_size``
applies to ``request.read()`` only); uploads (build context, image load and
import, ``cp`` archives) stream through ``request.content`` with no limit.
"""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web

from wharf.errors import InvalidParameter, TooLarge

#: bytes; a container create with the most environment Linux can exec is ~2 MiB
JSON_BODY_LIMIT = 16 << 20


def boolean(request: web.Request, name: str, default: bool = False) -> bool:
    """Docker's BoolValue: absent → default; "", "0", "no", "false", "none" → False."""
    value = request.query.get(name)
    if value is None:
        return default
    return value.strip().lower() not in ("", "0", "no", "false", "none")


def integer(request: web.Request, name: str, default: int | None = None) -> int | None:
    value = request.query.get(name)
    if value is None or value == "":
        return default
    try:
        return int(value)
    except ValueError:
        raise InvalidParameter(f"invalid value for {name}: {value!r}: must be an integer") from None


async def json_body(request: web.Request, default: Any = None) -> Any:
    """The decoded JSON body; ``default`` when there is none."""
    too_large = TooLarge(f"request body too large: a JSON body may have at most {JSON_BODY_LIMIT} bytes")
    if (request.content_length or 0) > JSON_BODY_LIMIT:
        raise too_large  # refused before a byte of it is read
    try:
        raw = await request.read()
    except web.HTTPRequestEntityTooLarge:
        raise too_large from None
    if not raw.strip():
        return {} if default is None else default
    try:
        return json.loads(raw)
    except ValueError as e:
        raise InvalidParameter(f"invalid JSON: {e}") from None


def json_response(data: Any, status: int = 200) -> web.Response:
    """JSON with exactly ``Content-Type: application/json``, as dockerd sends it.

    The docker CLI decodes an error body only for that exact type; aiohttp's
    ``json_response`` adds ``; charset=utf-8`` and the CLI then prints the raw
    JSON. A bytes body keeps the type bare.
    """
    body = json.dumps(data, separators=(",", ":")).encode() + b"\n"
    return web.Response(body=body, status=status, content_type="application/json")


#: where the app keeps the daemon's Engine (typed loosely so route modules need not import it)
ENGINE: web.AppKey[Any] = web.AppKey("engine", object)


def engine(request: web.Request) -> Any:
    """The daemon's Engine."""
    return request.app[ENGINE]
