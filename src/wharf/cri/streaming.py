"""The CRI's streaming server: Exec, Attach and PortForward URLs, over websocket and SPDY.

``Exec``/``Attach``/``PortForward`` answer a one-use URL on a loopback HTTP
server of the daemon's (as containerd's stream server). The client opens it
in one of Kubernetes' two ways:

* a websocket (``GET``, the kubelet's proxy, crictl/critest's ``websocket``
  transport): exec and attach speak ``v5.channel.k8s.io``, port forward
  ``SPDY/3.1+portforward.k8s.io`` (SPDY carried in binary messages);
* ``Upgrade: SPDY/3.1`` (``POST``, client-go's default): exec and attach
  negotiate ``v4.channel.k8s.io`` (or v5: the same over SPDY) in
  ``X-Stream-Protocol-Version``, port forward ``portforward.k8s.io``.

Exec and attach relay the shim's stream (exec and attach requests, Docker's
frames) through ``wharf.cri.channels`` and end with a ``metav1.Status``
(``Success``, or ``NonZeroExitCode`` with the code); port forward is
``wharf.cri.portforward``.
"""

from __future__ import annotations

import asyncio
import secrets
import time
from dataclasses import dataclass
from typing import Any, Awaitable, Callable

from aiohttp import WSMsgType, web

from wharf.cri import portforward, wsports
from wharf.cri.channels import (CLOSE, ERROR, RESIZE, STDERR, STDIN, STDOUT, STREAM_TYPES,
                                Channels, SpdyChannels, WebSocketChannels, wait_for_streams)
from wharf.cri.spdyconn import Connection, Stream
from wharf.engine import shims
from wharf.engine.core import Engine
from wharf.errors import NotFound, WharfError
from wharf.shim import frames

WS_PROTOCOL = "v5.channel.k8s.io"
SPDY_PROTOCOLS = ("v5.channel.k8s.io", "v4.channel.k8s.io")  # the same over SPDY
TUNNEL_PREFIX = "SPDY/3.1+"  # a websocket carrying SPDY (port forward)
TOKEN_TTL = 60.0  # seconds a URL stays valid unused (the kubelet's default)
STREAM_WAIT = 30.0  # seconds for the client to open its streams (the kubelet's default)


@dataclass
class _Pending:
    kind: str  # "exec" | "attach" | "portforward"
    container_id: str
    cmd: list[str]
    tty: bool
    stdin: bool
    stdout: bool
    stderr: bool
    made: float


class StreamServer:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._pending: dict[str, _Pending] = {}
        self._runner: web.AppRunner | None = None
        self.base = ""

    async def start(self, host: str = "127.0.0.1") -> None:
        app = web.Application()
        app.router.add_route("*", "/{kind:exec|attach|portforward}/{token}", self._serve)
        self._runner = web.AppRunner(app, handle_signals=False, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, host, 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.base = f"http://{host}:{port}"

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    def url(self, kind: str, container_id: str, cmd: list[str] | None = None, tty: bool = False,
            stdin: bool = False, stdout: bool = False, stderr: bool = False) -> str:
        """A one-use URL for this exec, attach or (of a sandbox) port forward."""
        now = time.monotonic()
        for token, p in list(self._pending.items()):
            if now - p.made > TOKEN_TTL:
                del self._pending[token]
        token = secrets.token_urlsafe(16)
        self._pending[token] = _Pending(kind, container_id, cmd or [], tty, stdin, stdout,
                                        stderr and not tty, now)
        return f"{self.base}/{kind}/{token}"

    async def _serve(self, request: web.Request) -> web.StreamResponse:
        p = self._pending.get(request.match_info["token"])
        if p is None or p.kind != request.match_info["kind"]:
            raise web.HTTPNotFound()
        upgrade = request.headers.get("Upgrade", "").lower()
        if upgrade == "websocket":
            serve = self._websocket
        elif upgrade == "spdy/3.1":
            serve = self._spdy
        else:
            raise web.HTTPBadRequest(text="unable to upgrade: missing upgrade headers in request")
        del self._pending[request.match_info["token"]]
        return await serve(request, p)

    # -- websocket -------------------------------------------------------------
    async def _websocket(self, request: web.Request, p: _Pending) -> web.StreamResponse:
        if p.kind != "portforward":
            ws = web.WebSocketResponse(protocols=(WS_PROTOCOL,), autoping=True)
            await ws.prepare(request)
            await self._run(p, WebSocketChannels(ws))
            return ws
        forwarder = self._forwarder(p)
        tunnel = TUNNEL_PREFIX + portforward.PROTOCOL
        ws = web.WebSocketResponse(protocols=(tunnel, wsports.PROTOCOL), autoping=True)
        if ws.can_prepare(request).protocol == tunnel:
            await ws.prepare(request)
            await _tunnel(ws, forwarder)
            return ws
        try:
            wanted = wsports.ports(request.query.getall("port", []))
        except ValueError as e:
            raise web.HTTPBadRequest(text=str(e)) from None
        await ws.prepare(request)
        await wsports.serve(ws, forwarder, wanted)
        return ws

    # -- SPDY ------------------------------------------------------------------
    async def _spdy(self, request: web.Request, p: _Pending) -> web.StreamResponse:
        offered = [v.strip() for h in request.headers.getall("X-Stream-Protocol-Version", [])
                   for v in h.split(",") if v.strip()]
        ours = (portforward.PROTOCOL,) if p.kind == "portforward" else SPDY_PROTOCOLS
        chosen = next((v for v in offered if v in ours), None)
        if chosen is None:
            raise web.HTTPForbidden(
                headers={"X-Accepted-Stream-Protocol-Versions": ", ".join(ours)},
                text=f"unable to upgrade: unable to negotiate protocol: client supports "
                     f"{offered}, server accepts {list(ours)}")
        forwarder = self._forwarder(p) if p.kind == "portforward" else None
        opened: asyncio.Queue[Stream] = asyncio.Queue()
        accept = forwarder.accept if forwarder else _remotecommand_streams(opened)
        resp = web.StreamResponse(status=101, headers={
            "Connection": "Upgrade", "Upgrade": "SPDY/3.1", "X-Stream-Protocol-Version": chosen})
        await resp.prepare(request)
        transport = request.transport
        assert transport is not None  # prepare() would have failed
        conn = Connection(resp.write, accept,
                          lambda paused: (transport.pause_reading if paused
                                          else transport.resume_reading)())
        request.protocol.set_parser(_Feed(conn))  # the rest of the connection is SPDY
        try:
            if forwarder is not None:
                await forwarder.serve(conn)
            else:
                wanted = {ERROR} | {ch for ch, on in ((STDIN, p.stdin), (STDOUT, p.stdout),
                                                      (STDERR, p.stderr), (RESIZE, p.tty)) if on}
                try:
                    streams = await asyncio.wait_for(wait_for_streams(conn, opened, wanted),
                                                     STREAM_WAIT)
                except (KeyError, asyncio.TimeoutError):
                    return resp
                await self._run(p, SpdyChannels(conn, streams))
        finally:
            await conn.close()
            transport.close()
        return resp

    def _forwarder(self, p: _Pending) -> portforward.Forwarder:
        """For the sandbox's network namespace (its ``SandboxKey``; none on the host's)."""
        gone = web.HTTPNotFound(text=f"pod sandbox {p.container_id} is not running")
        try:
            c = self.engine.containers.get(p.container_id)
        except NotFound:
            raise gone from None
        if not c.running:
            raise gone
        return portforward.Forwarder(c.id, c.record["NetworkSettings"].get("SandboxKey") or "")

    # -- exec and attach -------------------------------------------------------
    async def _run(self, p: _Pending, ch: Channels) -> None:
        status: dict[str, Any] = {"metadata": {}, "status": "Success"}
        try:
            code = await (self._exec(ch, p) if p.kind == "exec" else self._attach(ch, p))
            if code:
                status = {"metadata": {}, "status": "Failure", "reason": "NonZeroExitCode",
                          "message": f"command terminated with non-zero exit code: {code}",
                          "details": {"causes": [{"reason": "ExitCode", "message": str(code)}]}}
        except WharfError as e:
            status = {"metadata": {}, "status": "Failure", "message": e.message,
                      "reason": "InternalError"}
        await ch.finish(status)

    async def _exec(self, ch: Channels, p: _Pending) -> int:
        execs = self.engine.execs
        ex = execs.get(execs.create(p.container_id, {
            "Cmd": p.cmd, "Tty": p.tty, "AttachStdin": p.stdin, "AttachStdout": p.stdout,
            "AttachStderr": p.stderr}))
        reader, writer = await execs.start(ex)
        code = -1

        async def resize(size: dict[str, int]) -> None:
            await execs.resize(ex.id, size.get("Height", 0), size.get("Width", 0))
        try:
            code = await _relay(ch, reader, writer, p, resize)
        finally:
            writer.close()
            execs.finished(ex, code)
        return code

    async def _attach(self, ch: Channels, p: _Pending) -> int:
        containers = self.engine.containers
        c = containers.get(p.container_id)
        bundle = containers.bundle(c)
        reader, writer, answer = await shims.open_request(bundle, {
            "op": "attach", "stdin": p.stdin, "stdout": p.stdout, "stderr": p.stderr})
        if "error" in answer:
            writer.close()
            raise NotFound(f"container {c.id} is not running")

        async def resize(size: dict[str, int]) -> None:
            await shims.call(bundle, {"op": "resize", "height": size.get("Height", 0),
                                      "width": size.get("Width", 0)})
        try:
            await _relay(ch, reader, writer, p, resize)
        finally:
            writer.close()
        return 0


async def _relay(ch: Channels, reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                 p: _Pending, resize: Callable[[dict[str, int]], Awaitable[None]]) -> int:
    """Shim frames to the client and its stdin and resizes to the shim, until the
    shim's stream ends (the process exited) or, for an attach, the client goes (an
    exec's process is left to finish, its exit recorded); the exit code (-1: none was
    reported)."""
    async def inbound() -> None:
        async for channel, data in ch.inbound():
            try:
                if channel == STDIN and p.stdin:
                    writer.write(data)
                    await writer.drain()
                elif channel == CLOSE and data[:1] == bytes([STDIN]) and p.stdin:
                    writer.write_eof()
                elif channel == RESIZE:
                    await resize(data)
            except (OSError, RuntimeError, WharfError):
                pass  # the process closed its stdin, or exited: its output may go on

    out = frames.Output(reader)

    async def outbound() -> None:
        async for stream, payload in out:
            await ch.send(STDOUT if p.tty else stream, payload)

    incoming, outgoing = asyncio.ensure_future(inbound()), asyncio.ensure_future(outbound())
    try:
        await asyncio.wait((outgoing, incoming) if p.kind == "attach" else (outgoing,),
                           return_when=asyncio.FIRST_COMPLETED)
        if outgoing.done():
            outgoing.result()
        return out.exit_code(-1)
    finally:
        for task in (incoming, outgoing):
            task.cancel()
        await asyncio.gather(incoming, outgoing, return_exceptions=True)


async def _tunnel(ws: web.WebSocketResponse, forwarder: portforward.Forwarder) -> None:
    """Port forward over SPDY carried in the websocket's binary messages."""
    room = asyncio.Event()
    room.set()
    conn = Connection(ws.send_bytes, forwarder.accept,
                      lambda paused: room.clear() if paused else room.set())

    async def pump() -> None:
        while await room.wait():
            msg = await ws.receive()
            if msg.type in (WSMsgType.CLOSE, WSMsgType.CLOSING, WSMsgType.CLOSED,
                            WSMsgType.ERROR):
                break
            if msg.type == WSMsgType.BINARY:
                conn.feed(msg.data)
        conn.feed_eof()
    reading = asyncio.ensure_future(pump())
    try:
        await forwarder.serve(conn)
    finally:
        reading.cancel()
        await asyncio.gather(reading, return_exceptions=True)
        await ws.close()


def _remotecommand_streams(opened: asyncio.Queue[Stream]) -> Callable[[Stream], str | None]:
    """``Connection``'s check of an exec's or attach's new stream: a known type."""
    def accept(stream: Stream) -> str | None:
        if stream.header("streamType") not in STREAM_TYPES:
            return f"unexpected stream type {stream.header('streamType')!r}"
        opened.put_nowait(stream)
        return None
    return accept


class _Feed:
    """What aiohttp feeds an upgraded connection's bytes to (as its websocket reader)."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def feed_data(self, data: bytes) -> tuple[bool, bytes]:
        self.conn.feed(bytes(data))
        return False, b""

    def feed_eof(self) -> None:
        self.conn.feed_eof()
