"""The API server's limits over a real unix socket: slowloris clients are dropped at
the header timeout (uploads are not), a malformed chunked body is answered 400,
a JSON body has a limit and a streamed upload has none, an error after an answer
began cuts it (never a second answer inside its body)."""

from __future__ import annotations

import asyncio
import errno
import json
from pathlib import Path
from typing import Any, Awaitable, Callable

from aiohttp import web

from wharf.api.params import JSON_BODY_LIMIT
from wharf.api.server import make_runner
from wharf.client.http import Client, StreamError


class _Containers:
    async def create(self, body: Any, name: str) -> dict[str, Any]:
        return {"Id": "x", "Warnings": []}


class _Images:
    def __init__(self) -> None:
        self.loaded = 0

    async def load(self, reader: Any) -> list[Any]:
        def read_all() -> None:
            while data := reader.read(1 << 20):
                self.loaded += len(data)
        await asyncio.to_thread(read_all)
        return []


    async def save(self, names: list[str], out: Any) -> None:
        def write_then_fail() -> None:
            out.write(b"a tar's first block")
            raise OSError(errno.ENOSPC, "No space left on device", "/var/lib/wharf/tmp/x")
        await asyncio.to_thread(write_then_fail)


class _Engine:
    def __init__(self) -> None:
        self.containers = _Containers()
        self.images = _Images()


Check = Callable[[str, _Engine], Awaitable[None]]


def _serve(tmp_path: Path, check: Check, header_timeout: float = 300) -> None:
    async def main() -> None:
        engine = _Engine()
        runner = make_runner(engine, header_timeout=header_timeout)
        await runner.setup()
        path = str(tmp_path / "api.sock")
        await web.UnixSite(runner, path).start()
        try:
            await check(path, engine)
        finally:
            await runner.cleanup()
    asyncio.run(main())


async def _answer(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    """Status and body of the next answer (by its Content-Length or its chunks)."""
    head = (await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)).lower()
    status = int(head.split()[1])
    if b"transfer-encoding: chunked" not in head:
        length = int(head.split(b"content-length: ")[1].split(b"\r\n")[0])
        return status, await reader.readexactly(length)
    body = b""
    while size := int(await reader.readuntil(b"\r\n"), 16):
        body += (await reader.readexactly(size + 2))[:-2]
    return status, body


async def _rest(r: asyncio.StreamReader) -> bytes:
    """What the server sent before it closed the connection. On a loaded machine the
    header timeout may close one before the trickle reaches it: the write then
    fails (EPIPE) and the read says so, which is no answer too."""
    try:
        return await asyncio.wait_for(r.read(), 5)
    except (BrokenPipeError, ConnectionResetError):
        return b""


def test_slowloris_connections_are_closed_at_the_header_timeout(tmp_path: Path) -> None:
    async def check(path: str, engine: _Engine) -> None:
        slow = [await asyncio.open_unix_connection(path) for _ in range(200)]
        for _, w in slow:
            w.write(b"GET /_ping HTTP/1.1\r\nHost: docker\r\nX-Slow: ")
        upload_r, upload_w = await asyncio.open_unix_connection(path)
        upload_w.write(b"POST /containers/create HTTP/1.1\r\nHost: docker\r\nContent-Length: 2\r\n\r\n{")
        await asyncio.sleep(0.5)
        for _, w in slow:
            w.write(b"a")  # still trickling
        closed = await asyncio.gather(*(_rest(r) for r, _ in slow))
        assert closed == [b""] * 200  # no answer, just closed
        upload_w.write(b"}")  # a body may take longer than the header timeout
        head = await asyncio.wait_for(upload_r.readuntil(b"\r\n"), 5)
        assert head.startswith(b"HTTP/1.1 201 ")
        for _, w in [*slow, (upload_r, upload_w)]:
            w.close()
    _serve(tmp_path, check, header_timeout=1)


def test_a_malformed_chunked_body_is_answered_400(tmp_path: Path) -> None:
    """The bad chunk comes after the handler started reading (the case aiohttp left
    hanging), for a JSON body read whole and for a streamed upload."""
    async def check(path: str, engine: _Engine) -> None:
        for route in ("/containers/create", "/images/load"):
            for bad in (b"zz\r\n{}\r\n0\r\n\r\n", b"2\r\n{}XX0\r\n\r\n"):
                reader, writer = await asyncio.open_unix_connection(path)
                writer.write(f"POST /v1.41{route} HTTP/1.1\r\nHost: docker\r\n"
                             "Transfer-Encoding: chunked\r\n\r\n1\r\n{\r\n".encode())
                await asyncio.sleep(0.1)
                writer.write(bad)
                status, body = await _answer(reader)
                assert (status, json.loads(body)) == (400, {"message": "malformed chunked encoding"})
                writer.close()
    _serve(tmp_path, check)


def test_a_json_body_has_a_limit_and_an_upload_has_none(tmp_path: Path) -> None:
    async def check(path: str, engine: _Engine) -> None:
        reader, writer = await asyncio.open_unix_connection(path)
        writer.write(b"POST /containers/create HTTP/1.1\r\nHost: docker\r\nContent-Length: %d\r\n\r\n"
                     % (JSON_BODY_LIMIT + 1))
        status, body = await _answer(reader)
        assert status == 413 and "request body too large" in json.loads(body)["message"]
        writer.close()

        reader, writer = await asyncio.open_unix_connection(path)  # chunked: no length to refuse early
        writer.write(b"POST /containers/create HTTP/1.1\r\nHost: docker\r\nTransfer-Encoding: chunked\r\n\r\n")
        chunk = b"[" + b" " * (1 << 20)
        for _ in range(JSON_BODY_LIMIT // len(chunk) + 2):
            writer.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
        writer.write(b"0\r\n\r\n")
        status, body = await _answer(reader)
        assert status == 413 and "request body too large" in json.loads(body)["message"]
        writer.close()

        size = JSON_BODY_LIMIT + (4 << 20)
        reader, writer = await asyncio.open_unix_connection(path)
        writer.write(b"POST /images/load HTTP/1.1\r\nHost: docker\r\nContent-Length: %d\r\n"
                     b"Connection: close\r\n\r\n" % size)
        for _ in range(size >> 20):
            writer.write(b"\0" * (1 << 20))
            await writer.drain()
        status, _ = await _answer(reader)
        assert (status, engine.images.loaded) == (200, size)
        writer.close()
    _serve(tmp_path, check)


def test_an_error_after_the_answer_began_cuts_the_stream(tmp_path: Path) -> None:
    async def check(path: str, engine: _Engine) -> None:
        def save() -> bytes:
            resp = Client(f"unix://{path}").request("GET", "/images/get", {"names": "busybox"}, stream=True)
            return resp.read()
        try:
            await asyncio.to_thread(save)
        except StreamError as e:
            assert str(e) == "unexpected EOF"
        else:
            raise AssertionError("a cut save passed for a whole one")
    _serve(tmp_path, check)
