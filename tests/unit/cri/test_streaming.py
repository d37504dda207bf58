"""The streaming server's handshake, as a client that cannot go on sees it (no daemon:
these answers come before any container is looked at)."""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp

from wharf.cri.streaming import StreamServer


def _ask(kind: str, headers: dict[str, str]) -> tuple[int, str, Any, int]:
    """(status, body, headers) of one request to a fresh URL, and the status of a second
    request to the same URL."""
    async def main() -> tuple[int, str, Any, int]:
        server = StreamServer(engine=None)  # type: ignore[arg-type]
        await server.start()
        try:
            url = server.url(kind, "c0ffee", ["sh"], stdout=True)
            async with aiohttp.ClientSession() as session:
                async with session.post(url, headers=headers) as r:
                    first = (r.status, await r.text(), r.headers)
                async with session.post(url, headers=headers) as r:
                    return (*first, r.status)
        finally:
            await server.stop()
    return asyncio.run(main())


def test_a_protocol_version_the_server_lacks_is_refused_with_those_it_has() -> None:
    status, body, headers, again = _ask("exec", {
        "Connection": "Upgrade", "Upgrade": "SPDY/3.1",
        "X-Stream-Protocol-Version": "v3.channel.k8s.io, channel.k8s.io"})
    assert status == 403
    assert "unable to negotiate protocol" in body and "v3.channel.k8s.io" in body
    assert headers["X-Accepted-Stream-Protocol-Versions"] == "v5.channel.k8s.io, v4.channel.k8s.io"
    assert again == 404  # the URL was used


def test_a_request_that_upgrades_to_nothing_keeps_the_url() -> None:
    status, body, _, again = _ask("portforward", {})
    assert status == 400 and "missing upgrade headers" in body
    assert again == 400
