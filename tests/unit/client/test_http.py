"""The HTTP client against a real unix-socket server thread: bodies, streams, errors, hijack."""

from __future__ import annotations

import io
import json
import os
import socket
import threading
from pathlib import Path
from typing import Callable, Iterator

import pytest

from wharf.client import frames
from wharf.client.http import APIError, Client, DaemonUnreachable, StreamError, encode_query


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Callable[[bytes], tuple[Client, list[bytes]]]]:
    """A one-shot server: answers the next connection with canned bytes, records the request."""
    path = str(tmp_path / "d.sock")
    listener = socket.socket(socket.AF_UNIX)
    listener.bind(path)
    listener.listen(4)
    threads = []

    def serve(answer: bytes) -> tuple[Client, list[bytes]]:
        seen: list[bytes] = []

        def one() -> None:
            conn, _ = listener.accept()
            data = b""
            while b"\r\n\r\n" not in data:
                data += conn.recv(65536)
            seen.append(data)
            conn.sendall(answer)
            if b"Upgrade: tcp" in data:
                seen.append(conn.recv(100))
                conn.sendall(frames.encode(1, b"echo:" + seen[-1]))
            conn.close()
        thread = threading.Thread(target=one, daemon=True)
        thread.start()
        threads.append(thread)
        return Client(f"unix://{path}"), seen

    yield serve
    listener.close()
    for thread in threads:
        thread.join(5)


def test_json_request_and_query(server) -> None:  # type: ignore[no-untyped-def]
    body = b'{"Id":"abc"}'
    client, seen = server(b"HTTP/1.1 201 Created\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s"
                          % (len(body), body))
    assert client.json("POST", "/containers/create", {"name": "x y", "all": True}, {"Image": "b"}) == {"Id": "abc"}
    request = seen[0]
    assert request.startswith(b"POST /v1.41/containers/create?name=x%20y&all=1 HTTP/1.1\r\n")
    assert b"Content-Type: application/json" in request


def test_error_body_becomes_api_error(server) -> None:  # type: ignore[no-untyped-def]
    body = b'{"message":"No such container: nope"}'
    client, _ = server(b"HTTP/1.1 404 Not Found\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body))
    with pytest.raises(APIError) as err:
        client.get("/containers/nope/json")
    assert (err.value.status, err.value.message) == (404, "No such container: nope")


def test_chunked_json_lines_stream(server) -> None:  # type: ignore[no-untyped-def]
    events = [{"Action": "start"}, {"Action": "die"}]
    payload = b"".join(json.dumps(e).encode() + b"\n" for e in events)
    chunks = b"".join(b"%x\r\n%s\r\n" % (len(p), p) for p in (payload[:7], payload[7:]))
    client, _ = server(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + chunks + b"0\r\n\r\n")
    resp = client.request("GET", "/events", stream=True)
    assert list(resp.iter_json()) == events


def test_hijack_is_a_raw_bidirectional_stream(server) -> None:  # type: ignore[no-untyped-def]
    client, seen = server(b"HTTP/1.1 101 UPGRADED\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n\r\n")
    conn = client.hijack("POST", "/containers/x/attach", {"stream": 1})
    conn.sendall(b"hello")
    demuxer = frames.Demuxer()
    got = b""
    while data := conn.recv():
        got += data
    conn.close()
    assert list(demuxer.feed(got)) == [(1, b"echo:hello")]
    assert b"Connection: Upgrade" in seen[0]


def test_demux_across_arbitrary_chunk_boundaries() -> None:
    stream = frames.encode(1, b"out\n") + frames.encode(2, b"err\n") + frames.encode(255, b"{}")
    out, err = io.BytesIO(), io.BytesIO()
    demuxer = frames.Demuxer()
    for i in range(len(stream)):
        frames.write_frames(demuxer, stream[i:i + 1], out, err)
    assert (out.getvalue(), err.getvalue()) == (b"out\n", b"err\n")


def test_tty_stream_is_copied_raw() -> None:
    out, err = io.BytesIO(), io.BytesIO()
    frames.copy_stream([b"\x01raw", b" bytes"], out, err, tty=True)
    assert out.getvalue() == b"\x01raw bytes"


def test_hosts(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("DOCKER_HOST", raising=False)
    assert Client().host == "unix:///run/wharf/wharf.sock"
    monkeypatch.setenv("DOCKER_HOST", "tcp://127.0.0.1:1")
    with pytest.raises(DaemonUnreachable, match=r"Cannot connect to the Docker daemon at tcp://127.0.0.1:1\."):
        Client().get("/_ping")
    assert Client(f"unix://{tmp_path}/x").host == f"unix://{tmp_path}/x"
    assert encode_query({"filters": {"status": ["exited"]}, "skip": None}) == \
        "?filters=%7B%22status%22%3A%5B%22exited%22%5D%7D"
    assert not os.path.exists(f"{tmp_path}/x")


_EVENTS = b'{"status":"Pulling fs layer"}\n{"status":"Download complete"}\n'
_CHUNKED = (b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
            + b"".join(b"%x\r\n%s\r\n" % (len(p), p) for p in (_EVENTS[:20], _EVENTS[20:])) + b"0\r\n\r\n")
_LENGTH = b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(_EVENTS), _EVENTS)


@pytest.mark.parametrize("whole", [_CHUNKED, _LENGTH], ids=["chunked", "content-length"])
def test_a_stream_cut_anywhere_raises_unexpected_eof(server, whole: bytes) -> None:  # type: ignore[no-untyped-def]
    """Every cut after the status line's first byte: a line, a chunk size, chunk data, the
    CRLF after it, the last chunk, the final CRLF. None passes for a finished body."""
    for cut in range(1, len(whole)):
        client, _ = server(whole[:cut])
        with pytest.raises(StreamError, match="^unexpected EOF$"):
            list(client.request("POST", "/images/create", stream=True).iter_json())
    client, _ = server(whole)
    assert len(list(client.request("POST", "/images/create", stream=True).iter_json())) == 2


def test_a_cut_error_body_is_not_taken_for_a_message(server) -> None:  # type: ignore[no-untyped-def]
    client, _ = server(b"HTTP/1.1 500 Internal Server Error\r\nContent-Length: 40\r\n\r\n{\"message\":")
    with pytest.raises(StreamError, match="unexpected EOF"):
        client.get("/info")


@pytest.mark.parametrize("answer, message", [
    (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nab\r\n0\r\n\r\n", "malformed chunked encoding"),
    (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nabXY0\r\n\r\n", "malformed chunked encoding"),
    (b"SSH-2.0-OpenSSH_9.2\r\n\r\n", 'malformed HTTP response "SSH-2.0-OpenSSH_9.2"'),
])
def test_garbage_framing_is_an_error(server, answer: bytes, message: str) -> None:  # type: ignore[no-untyped-def]
    client, _ = server(answer)
    with pytest.raises(StreamError, match=f"^{message}$"):
        client.request("GET", "/events", stream=True).read()


def test_a_body_that_ends_at_eof_is_whole(server) -> None:  # type: ignore[no-untyped-def]
    """Without a length or chunking (a raw log stream) EOF is the end, not a cut."""
    client, _ = server(b"HTTP/1.1 200 OK\r\nContent-Type: application/vnd.docker.raw-stream\r\n\r\nraw bytes")
    assert client.request("GET", "/containers/x/logs", stream=True).read() == b"raw bytes"
