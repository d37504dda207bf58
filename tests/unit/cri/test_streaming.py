"""The streaming server's handshake, as a client that cannot go on sees it (no daemon:
these answers come before any container is looked at)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import aiohttp

from wharf.cri.spdyconn import READ_BACKLOG
from wharf.cri.streaming import StreamServer
from wharf.cri.wsports import _Channel
from wharf.shim.frames import frame


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


def test_port_forward_over_websocket_channels() -> None:
    """A client that does not tunnel SPDY (``v4.channel.k8s.io``, ports in the query), to
    a host-network pod: each channel opens with its port, data goes both ways on channel
    0, and the websocket closes when the pod's end of the connection does."""
    async def main() -> tuple[int, list[bytes], bytes, Any, int]:
        async def upper(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            writer.write((await reader.readline()).upper())
            writer.close()
        pod = await asyncio.start_server(upper, "127.0.0.1", 0)
        port = pod.sockets[0].getsockname()[1]
        sandbox = SimpleNamespace(id="c0ffee", running=True,
                                  record={"NetworkSettings": {"SandboxKey": ""}})
        server = StreamServer(SimpleNamespace(  # type: ignore[arg-type]
            containers=SimpleNamespace(get=lambda ref: sandbox)))
        await server.start()
        try:
            async with aiohttp.ClientSession() as session:
                url = server.url("portforward", sandbox.id)
                async with session.get(f"{url}?port=0") as r:
                    refused = r.status
                url = server.url("portforward", sandbox.id)
                async with session.ws_connect(f"{url}?port={port}",
                                              protocols=("v4.channel.k8s.io",)) as ws:
                    greetings = [(await ws.receive_bytes()) for _ in range(2)]
                    await ws.send_bytes(b"\x00hello pod\n")
                    answer = await ws.receive_bytes()
                    end = await ws.receive()
                    return port, greetings, answer, end.type, refused
        finally:
            await server.stop()
            pod.close()
            await pod.wait_closed()
    port, greetings, answer, end, refused = asyncio.run(main())
    assert refused == 400  # no port 0
    le = port.to_bytes(2, "little")
    assert sorted(greetings) == [b"\x00" + le, b"\x01" + le]
    assert answer == b"\x00HELLO POD\n"
    assert end == aiohttp.WSMsgType.CLOSE


def test_a_websocket_port_channel_stops_taking_input_the_pod_has_not_read() -> None:
    """The websocket is no longer read while 1 MiB waits for the pod (memory stays bounded)."""
    async def scenario() -> None:
        channel = _Channel(None, 0)  # type: ignore[arg-type]  # only read and received here
        channel.received(b"x" * READ_BACKLOG)
        waiting = asyncio.ensure_future(channel.room())
        await asyncio.sleep(0)
        assert not waiting.done()
        assert await channel.read() == b"x" * READ_BACKLOG
        await asyncio.wait_for(waiting, 1)
        channel.discard()
        channel.received(b"y" * 2 * READ_BACKLOG)  # a closed port's input is dropped
        await asyncio.wait_for(channel.room(), 1)
    asyncio.run(scenario())


def test_a_malformed_resize_is_ignored_and_the_attach_goes_on(tmp_path: Path) -> None:
    """Terminal sizes come on channel 4: one that is no size (not JSON, not an object, a
    negative or fractional width, not UTF-8) is dropped, as the kubelet drops it; the
    attach stays, its stdin still reaches the container, and good sizes still apply.
    The container is a fake shim on the bundle's socket that echoes stdin's lines."""
    sizes: list[tuple[int, int]] = []

    async def shim(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        request = json.loads(await reader.readline())
        writer.write(b"{}\n")
        if request["op"] == "resize":
            sizes.append((request["width"], request["height"]))
        else:  # attach
            while line := await reader.readline():
                writer.write(frame(1, line))
        await writer.drain()
        writer.close()

    async def main() -> tuple[bytes, bool]:
        container = SimpleNamespace(id="c0ffee")
        server = StreamServer(SimpleNamespace(containers=SimpleNamespace(  # type: ignore[arg-type]
            get=lambda ref: container, bundle=lambda c: str(tmp_path))))
        shims = await asyncio.start_unix_server(shim, str(tmp_path / "shim.sock"))
        await server.start()
        try:
            url = server.url("attach", container.id, tty=True, stdin=True, stdout=True)
            async with aiohttp.ClientSession() as session:
                async with session.ws_connect(url, protocols=("v5.channel.k8s.io",)) as ws:
                    for bad in (b"not json", b"[80, 24]", b'{"Width": -1}', b'{"Width": 8.5}',
                                b"\xff", b""):
                        await ws.send_bytes(b"\x04" + bad)
                    await ws.send_bytes(b'\x04{"width": 80, "Height": 24, "extra": 1}')
                    await ws.send_bytes(b"\x00hello\n")
                    echoed = await asyncio.wait_for(ws.receive_bytes(), 30)
                    return echoed, ws.closed
        finally:
            await server.stop()
            shims.close()
            await shims.wait_closed()
    echoed, closed = asyncio.run(main())
    assert (echoed, closed) == (b"\x01hello\n", False)
    assert sizes == [(80, 24)]
