"""What every route handler gets: the request, the store, the parsed path, the caller's grant."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any, Callable, TypeVar

from aiohttp import web

from wharf.registry.server.auth import Grant
from wharf.registry.server.storage import Storage

T = TypeVar("T")


@dataclass
class Ctx:
    request: web.Request
    storage: Storage
    #: the repository name (already checked against the grammar), "" for /v2/ and _catalog
    name: str
    #: the rest of the path the route matched: a digest, a reference or an upload id
    arg: str
    grant: Grant
    #: per-process state shared by requests (upload locks and running hashes)
    state: dict[str, Any]

    async def disk(self, fn: Callable[..., T], *args: Any) -> T:
        """Run blocking store work off the event loop."""
        return await asyncio.to_thread(fn, *args)


def empty(status: int, headers: dict[str, str]) -> web.Response:
    """A bodiless answer (201, 202, 204) with the spec's headers."""
    return web.Response(status=status, headers={**headers, "Content-Length": "0"})
