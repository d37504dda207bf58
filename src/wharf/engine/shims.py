"""The daemon's side of ``shim.sock`` (docs/architecture.md, "engine ↔ shim"),
on asyncio: one JSON request line per connection, then either one answer line
or a stream of Docker frames.

This is the asyncio twin of ``wharf.shim.client`` (blocking, for threads):
the daemon waits on every running container at once, which would take a
thread each. Everything about where a shim lives (socket, exit.json) is derived from the
bundle directory, so a restarted daemon reaches its shims with nothing but
the container ID.
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
from typing import Any

from wharf.shim import client


def _connect(bundle: str) -> socket.socket:
    """Connect to the bundle's shim.sock through ``/proc/self/fd/N/``: the full path
    (exec root + 64-hex ID) can pass the 108 bytes a unix socket address may hold."""
    dirfd = os.open(bundle, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.connect(f"/proc/self/fd/{dirfd}/shim.sock")
    except BaseException:
        sock.close()
        raise
    finally:
        os.close(dirfd)
    sock.setblocking(False)
    return sock


async def open_request(bundle: str, request: dict[str, Any]
                       ) -> tuple[asyncio.StreamReader, asyncio.StreamWriter, dict[str, Any]]:
    """Send ``request`` and read the first answer line; the stream stays open."""
    reader, writer = await asyncio.open_unix_connection(sock=_connect(bundle), limit=1 << 20)
    try:
        writer.write(json.dumps(request).encode() + b"\n")
        await writer.drain()
        line = await reader.readline()
        if not line:
            raise ConnectionError("shim closed the connection")
        return reader, writer, json.loads(line)
    except BaseException:
        writer.close()
        raise


async def call(bundle: str, request: dict[str, Any]) -> dict[str, Any]:
    """One request, one answer line."""
    reader, writer, answer = await open_request(bundle, request)
    writer.close()
    return answer


async def state(bundle: str) -> dict[str, Any] | None:
    """The shim's ``{"pid", "status"}``, or None when no shim answers for the bundle."""
    try:
        return await asyncio.wait_for(call(bundle, {"op": "state"}), 5)
    except (OSError, ValueError, asyncio.TimeoutError):
        return None


async def flush(bundle: str) -> None:
    """Have the shim read the container's output pipes dry into its log, so a
    log read next sees everything written so far. A shim that is gone, or
    answers an error, needs none: its log is complete or the container dead."""
    try:
        await asyncio.wait_for(call(bundle, {"op": "flush"}), 5)
    except (OSError, ValueError, asyncio.TimeoutError):
        pass


async def wait(bundle: str) -> dict[str, Any]:
    """The container's exit: from the shim while it lives, else from exit.json
    (it exited while nobody listened), else exit code 255 as Docker reports a
    container whose shim vanished."""
    try:
        return await call(bundle, {"op": "wait"})
    except (OSError, ValueError):
        pass
    return await asyncio.to_thread(exit_file, bundle)


def exit_file(bundle: str) -> dict[str, Any]:
    return client.read_exit(bundle) or {
        "exit_code": 255, "oom_killed": False, "finished_at": None,
        "error": "the container's shim exited without a status"}
