"""A stream the daemon's connection drops half-way is a failure for the CLI, as for
docker's: ``unexpected EOF`` on stderr, exit 1, and no success line printed.

A proxy between ``wharf`` and the real wharfd passes requests through and cuts
the answer to one path after the first chunk of its body: everything that came is
well-formed, only the end is missing, which an older wharf took for success.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest

from support.daemon import BIN, DOCKER, Daemon

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "integration" / "registry_client"))
from registries import wharf_registry  # noqa: E402


class CuttingProxy:
    """A unix socket in front of the daemon's; answers to ``path`` end after their first chunk."""

    def __init__(self, upstream: str, listen: str, path: bytes) -> None:
        self.upstream, self.path = upstream, path
        self.listener = socket.socket(socket.AF_UNIX)
        self.listener.bind(listen)
        self.listener.listen(8)
        self.host = f"unix://{listen}"
        self.cuts = 0
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(client,), daemon=True).start()

    def _serve(self, client: socket.socket) -> None:
        upstream = socket.socket(socket.AF_UNIX)
        upstream.connect(self.upstream)
        armed = threading.Event()
        threading.Thread(target=self._requests, args=(client, upstream, armed), daemon=True).start()
        answer = b""
        while data := upstream.recv(65536):
            if not armed.is_set():
                client.sendall(data)
                continue
            answer += data
            if (end := _first_chunk_end(answer)) is not None:
                client.sendall(answer[:end])
                self.cuts += 1
                break
        for sock in (client, upstream):
            sock.shutdown(socket.SHUT_RDWR)  # wakes the pump blocked in recv (close alone does not)
            sock.close()

    def _requests(self, client: socket.socket, upstream: socket.socket, armed: threading.Event) -> None:
        """Client to daemon. A request line naming ``path`` arms the cut: answers on a
        kept-alive connection (the docker CLI pings first) come in order, so the next
        bytes back are that request's answer."""
        try:
            while data := client.recv(65536):
                if any(self.path in line and line.endswith(b" HTTP/1.1") for line in data.split(b"\r\n")):
                    armed.set()
                upstream.sendall(data)
        except OSError:
            pass

    def close(self) -> None:
        self.listener.close()


def _first_chunk_end(answer: bytes) -> int | None:
    """Where the headers and the first chunk of a chunked answer end, once all have come."""
    body = answer.find(b"\r\n\r\n") + 4
    size_end = answer.find(b"\r\n", body)
    if body < 4 or size_end < 0:
        return None
    end = size_end + 2 + int(answer[body:size_end], 16) + 2
    return end if len(answer) >= end else None


@pytest.fixture
def cut(wharfd: Daemon, tmp_path: Path) -> Iterator[Callable[[bytes], CuttingProxy]]:
    """A proxy cutting the answers to requests whose line holds the given bytes."""
    proxies: list[CuttingProxy] = []

    def make(path: bytes) -> CuttingProxy:
        proxies.append(CuttingProxy(str(wharfd.socket), str(tmp_path / f"cut{len(proxies)}.sock"), path))
        return proxies[-1]
    yield make
    for p in proxies:
        p.close()


def _wharf_via(proxy: CuttingProxy, d: Daemon, *args: str, cli: str = str(BIN / "wharf")
               ) -> subprocess.CompletedProcess[str]:
    return subprocess.run([cli, *args], env={**d.env, "DOCKER_HOST": proxy.host},
                          capture_output=True, text=True, timeout=60)


def test_build_cut_mid_stream_fails_with_unexpected_eof(wharfd: Daemon, busybox: str, cut: Any,
                                                        tmp_path: Path) -> None:
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    (ctx / "Dockerfile").write_text("FROM busybox\nLABEL cut=stream\nLABEL second=step\n")
    tag = f"wharf-test-cut-{os.urandom(3).hex()}"
    proxy = cut(b"/build")
    try:
        r = _wharf_via(proxy, wharfd, "build", "-t", tag, str(ctx))
        assert proxy.cuts == 1
        assert (r.returncode, r.stderr) == (1, "unexpected EOF\n"), r.stdout
        assert "Successfully" not in r.stdout
        # the same build through the daemon's own socket succeeds
        ok = wharfd.wharf("build", "-t", tag, str(ctx))
        assert ok.returncode == 0 and "Successfully tagged" in ok.stdout, ok.stderr
    finally:
        wharfd.wharf("rmi", "-f", tag)


def test_push_and_pull_cut_mid_stream_fail_with_unexpected_eof(wharfd: Daemon, busybox: str, cut: Any,
                                                                 tmp_path: Path) -> None:
    server = wharf_registry(tmp_path, "open")
    ref = f"{server.addr}/cut/busybox:1"
    try:
        assert wharfd.wharf("tag", busybox, ref).returncode == 0
        push = _wharf_via(cut(b"/push"), wharfd, "push", ref)
        assert (push.returncode, push.stderr) == (1, "unexpected EOF\n"), push.stdout
        assert "digest: sha256:" not in push.stdout
        assert wharfd.wharf("push", ref).returncode == 0
        assert wharfd.wharf("rmi", ref).returncode == 0
        pull = _wharf_via(cut(b"/images/create"), wharfd, "pull", ref)
        assert (pull.returncode, pull.stderr) == (1, "unexpected EOF\n"), pull.stdout
        assert ref not in pull.stdout and "Status:" not in pull.stdout
    finally:
        wharfd.wharf("rmi", "-f", ref)
        server.stop()


@pytest.fixture(scope="module")
def exited(wharfd: Daemon, busybox: str) -> Iterator[str]:
    """A container that printed two lines and exited."""
    r = wharfd.wharf("run", "-d", busybox, "sh", "-c", "echo one; echo two")
    assert r.returncode == 0, r.stderr
    cid = r.stdout.strip()
    assert wharfd.wharf("wait", cid).returncode == 0
    yield cid
    wharfd.wharf("rm", "-f", cid)


@pytest.mark.parametrize("cli", ["wharf", "docker"])
@pytest.mark.parametrize("path, args", [
    (b"/images/get", ["save", "-o", "{out}", "busybox"]),
    (b"/export", ["export", "-o", "{out}", "{cid}"]),
    (b"/archive", ["cp", "{cid}:/bin", "{out}"]),
    (b"/logs", ["logs", "{cid}"]),
    (b"/events", ["events", "--since", "0", "--until", "{now}"]),
], ids=["save", "export", "cp", "logs", "events"])
def test_other_streams_cut_fail_alike(wharfd: Daemon, exited: str, cut: Any, tmp_path: Path,
                                      path: bytes, args: list[str], cli: str) -> None:
    """And as the docker CLI fails, word for word."""
    if cli == "docker" and not Path(DOCKER).exists():
        pytest.skip("no docker CLI")
    out = tmp_path / "out"
    proxy = cut(path)
    r = _wharf_via(proxy, wharfd, *(a.format(out=out, cid=exited, now=int(time.time()) + 1) for a in args),
                   cli=DOCKER if cli == "docker" else str(BIN / "wharf"))
    assert proxy.cuts == 1
    assert (r.returncode, r.stderr) == (1, "unexpected EOF\n")
    if "-o" in args and cli == "wharf":
        assert not out.exists()  # no half archive left for a whole one (docker's CLI leaves it)
