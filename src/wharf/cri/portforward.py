"""PortForward over SPDY (``portforward.k8s.io``): TCP connections into a pod's network.

For each local connection the client opens two streams sharing a
``requestID`` and the remote ``port``: ``error`` (which it closes at once
and reads to the end: anything there is the failure it reports) and
``data``. Once both came, a socket made in the pod's network namespace
(``wharf.network.netns``: a short-lived thread joins it, so the loop never
moves) connects to localhost:port there, IPv4 then IPv6 as containerd dials,
and bytes are relayed both ways: the client's FIN half-closes the pod side,
the pod's EOF is the data stream's FIN; the error stream closes when both
are done (or the client resets the data stream, which client-go does once
our side ended). A host-network pod is dialled from the daemon's namespace.
"""

from __future__ import annotations

import asyncio
import logging
import socket
from typing import Protocol

from wharf.cri.spdyconn import Connection, Stream
from wharf.network import netns

log = logging.getLogger("wharf.cri")
PROTOCOL = "portforward.k8s.io"
DIAL_TIMEOUT = 5.0  # seconds per address, containerd's


def valid_port(text: str) -> bool:
    """A TCP port number, as the kubelet parses one from a header or the URL."""
    return text.isdigit() and 0 < int(text) < 65536


class Channel(Protocol):
    """A data or error stream as ``forward`` uses it (a SPDY stream, a websocket channel)."""

    async def read(self) -> bytes: ...

    async def write(self, data: bytes) -> None: ...

    async def close(self) -> None: ...

    def discard(self) -> None: ...


class Forwarder:
    """The streams of one port-forward connection to the pod whose network namespace
    is ``netns_path`` ("" for the host's)."""

    def __init__(self, pod: str, netns_path: str) -> None:
        self.pod, self.netns_path = pod, netns_path
        self._pairs: dict[str, dict[str, Stream]] = {}
        self._tasks: set[asyncio.Future[None]] = set()

    def accept(self, stream: Stream) -> str | None:
        """``Connection``'s check of a new stream (the kubelet's rules)."""
        port = stream.header("port")
        if not valid_port(port):
            return f"invalid port {port!r}"
        kind = stream.header("streamType")
        if kind not in ("data", "error"):
            return f"invalid stream type {kind!r}"
        request = stream.header("requestID") or str(stream.id - (2 if kind == "data" else 0))
        pair = self._pairs.setdefault(request, {})
        if kind in pair:
            return f"{kind} stream already assigned"
        pair[kind] = stream
        if len(pair) == 2:
            del self._pairs[request]
            task = asyncio.ensure_future(self.forward(pair["data"], pair["error"], int(port)))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        return None

    async def serve(self, conn: Connection) -> None:
        """Until the client closes the connection."""
        try:
            await conn.closed.wait()
        finally:
            for task in list(self._tasks):
                task.cancel()
            await asyncio.gather(*self._tasks, return_exceptions=True)
            await conn.close()

    async def forward(self, data: Channel, error: Channel, port: int) -> None:
        """One connection to ``port`` in the pod, relayed until both ends are done."""
        error.discard()  # the client only reads it
        try:
            sock = await asyncio.to_thread(self._dial, port)
        except OSError as e:
            data.discard()
            await error.write(f"error forwarding port {port} to pod {self.pod}: {e}".encode())
            await error.close()
            await data.close()
            return
        reader, writer = await asyncio.open_connection(sock=sock)

        async def to_pod() -> None:
            try:
                while chunk := await data.read():
                    writer.write(chunk)
                    await writer.drain()
                writer.write_eof()
            except OSError:
                pass
        upstream = asyncio.ensure_future(to_pod())
        try:
            try:
                while chunk := await reader.read(1 << 16):
                    await data.write(chunk)
            except OSError:
                pass
            await data.close()
            await upstream
        finally:
            upstream.cancel()
            writer.close()
            await error.close()

    def _dial(self, port: int) -> socket.socket:
        """Blocking: a socket connected to localhost:port in the pod's namespace."""
        def connect() -> socket.socket:
            failures = []
            for family, host, name in ((socket.AF_INET, "127.0.0.1", "IPv4"),
                                       (socket.AF_INET6, "::1", "IPv6")):
                sock = socket.socket(family, socket.SOCK_STREAM)
                sock.settimeout(DIAL_TIMEOUT)
                try:
                    sock.connect((host, port))
                except OSError as e:
                    sock.close()
                    failures.append(f"{name}: dial tcp {host}:{port}: {e.strerror or e}")
                    continue
                sock.setblocking(False)
                return sock
            raise OSError(" ".join(failures))
        return netns.call_in(self.netns_path, connect) if self.netns_path else connect()
