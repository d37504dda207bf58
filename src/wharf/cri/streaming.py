"""The CRI's streaming server: Exec and Attach over Kubernetes' websocket protocol.

``Exec``/``Attach`` answer a one-use URL on a loopback HTTP server of the
daemon's (as containerd's stream server); the client (the kubelet's proxy,
crictl, critest with ``-websocket-*``) opens a websocket there speaking
``v5.channel.k8s.io``: every binary message starts with its channel (0
stdin, 1 stdout, 2 stderr, 3 error, 4 resize as ``{"Width","Height"}``, 255
close of the channel in the next byte: stdin's EOF). The process's streams
come from the shim (exec and attach requests, Docker's frames); at the end
the error channel carries a ``metav1.Status`` (``Success``, or
``NonZeroExitCode`` with the code) and the connection closes. SPDY and
PortForward are not served.
"""

from __future__ import annotations

import asyncio
import json
import secrets
import time
from dataclasses import dataclass
from typing import Any

from aiohttp import WSMsgType, web

from wharf.engine import shims
from wharf.engine.core import Engine
from wharf.errors import NotFound, WharfError

PROTOCOL = "v5.channel.k8s.io"
STDIN, STDOUT, STDERR, ERROR, RESIZE, CLOSE = 0, 1, 2, 3, 4, 255
TOKEN_TTL = 60.0  # seconds a URL stays valid unused (the kubelet's default)


@dataclass
class _Pending:
    kind: str  # "exec" | "attach"
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
        app.router.add_get("/{kind:exec|attach}/{token}", self._serve)
        self._runner = web.AppRunner(app, handle_signals=False, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, host, 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.base = f"http://{host}:{port}"

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    def url(self, kind: str, container_id: str, cmd: list[str], tty: bool, stdin: bool,
            stdout: bool, stderr: bool) -> str:
        """A one-use URL for this exec or attach."""
        now = time.monotonic()
        for token, p in list(self._pending.items()):
            if now - p.made > TOKEN_TTL:
                del self._pending[token]
        token = secrets.token_urlsafe(16)
        self._pending[token] = _Pending(kind, container_id, cmd, tty, stdin, stdout,
                                        stderr and not tty, now)
        return f"{self.base}/{kind}/{token}"

    async def _serve(self, request: web.Request) -> web.StreamResponse:
        p = self._pending.pop(request.match_info["token"], None)
        if p is None or p.kind != request.match_info["kind"]:
            raise web.HTTPNotFound()
        ws = web.WebSocketResponse(protocols=(PROTOCOL,), autoping=True)
        await ws.prepare(request)
        status: dict[str, Any] = {"metadata": {}, "status": "Success"}
        try:
            code = await (self._exec(ws, p) if p.kind == "exec" else self._attach(ws, p))
            if code:
                status = {"metadata": {}, "status": "Failure", "reason": "NonZeroExitCode",
                          "message": f"command terminated with non-zero exit code: {code}",
                          "details": {"causes": [{"reason": "ExitCode", "message": str(code)}]}}
        except WharfError as e:
            status = {"metadata": {}, "status": "Failure", "message": e.message,
                      "reason": "InternalError"}
        if not ws.closed:
            await ws.send_bytes(bytes([ERROR]) + json.dumps(status).encode())
            await ws.close()
        return ws

    async def _exec(self, ws: web.WebSocketResponse, p: _Pending) -> int:
        execs = self.engine.execs
        ex = execs.get(execs.create(p.container_id, {
            "Cmd": p.cmd, "Tty": p.tty, "AttachStdin": p.stdin, "AttachStdout": p.stdout,
            "AttachStderr": p.stderr}))
        reader, writer = await execs.start(ex)
        code = -1

        async def resize(size: dict[str, int]) -> None:
            await execs.resize(ex.id, size.get("Height", 0), size.get("Width", 0))
        try:
            code = await _relay(ws, reader, writer, p, resize)
        finally:
            writer.close()
            execs.finished(ex, code)
        return code

    async def _attach(self, ws: web.WebSocketResponse, p: _Pending) -> int:
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
            await _relay(ws, reader, writer, p, resize)
        finally:
            writer.close()
        return 0


async def _relay(ws: web.WebSocketResponse, reader: asyncio.StreamReader,
                 writer: asyncio.StreamWriter, p: _Pending, resize: Any) -> int:
    """Shim frames to the websocket and its stdin and resizes to the shim, until the
    shim's stream ends (the process exited) or the client goes; the exit code (-1:
    none was reported)."""
    async def inbound() -> None:
        async for msg in ws:
            if msg.type != WSMsgType.BINARY or not msg.data:
                continue
            channel, data = msg.data[0], msg.data[1:]
            if channel == STDIN and p.stdin:
                writer.write(data)
                await writer.drain()
            elif channel == CLOSE and data[:1] == bytes([STDIN]) and p.stdin:
                writer.write_eof()
            elif channel == RESIZE:
                await resize(json.loads(data))

    incoming = asyncio.ensure_future(inbound())
    code = -1
    try:
        async for stream, payload in shims.read_frames(reader):
            if stream == shims.CONTROL:
                code = int(json.loads(payload).get("exit_code", -1))
            elif not ws.closed:
                await ws.send_bytes(bytes([STDOUT if p.tty else stream]) + payload)
        return code
    finally:
        incoming.cancel()
        await asyncio.gather(incoming, return_exceptions=True)
