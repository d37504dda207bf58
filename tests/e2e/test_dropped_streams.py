"""Long-poll streams end with their client: a dropped ``docker events`` unsubscribes,
and a dropped ``logs -f`` stops its reader, at once, not at the next event or line
(which may never come). Nothing is published or logged while the clients go.
"""

from __future__ import annotations

import socket

from support.daemon import Daemon
from support.polling import eventually

CLIENTS = 200


def _open(d: Daemon, path: str, n: int) -> list[socket.socket]:
    """``n`` connections with a GET of ``path`` sent and its headers answered."""
    socks = []
    for _ in range(n):
        s = socket.socket(socket.AF_UNIX)
        s.connect(str(d.socket))
        s.sendall(f"GET /v1.41{path} HTTP/1.1\r\nHost: docker\r\n\r\n".encode())
        socks.append(s)
    for s in socks:
        s.settimeout(10)
        assert s.recv(65536).startswith(b"HTTP/1.1 200 ")
    return socks


def _listeners(d: Daemon) -> int:
    status, info = d.api("GET", "/info")
    assert status == 200
    return info["NEventsListener"]


def _threads(d: Daemon) -> int:
    assert d.proc is not None
    with open(f"/proc/{d.proc.pid}/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("Threads:"))


def test_dropped_event_streams_unsubscribe_without_an_event(wharfd: Daemon) -> None:
    before = _listeners(wharfd)
    socks = _open(wharfd, "/events", CLIENTS)
    assert _listeners(wharfd) == before + CLIENTS
    for s in socks:
        s.close()
    assert eventually(lambda: _listeners(wharfd) == before), _listeners(wharfd)


def test_dropped_log_followers_stop_their_readers(wharfd: Daemon, busybox: str) -> None:
    r = wharfd.wharf("run", "-d", busybox, "sleep", "300")
    assert r.returncode == 0, r.stderr
    cid = r.stdout.strip()
    try:
        base = _threads(wharfd)
        socks = _open(wharfd, f"/containers/{cid}/logs?follow=1&stdout=1&stderr=1", 20)
        assert eventually(lambda: _threads(wharfd) >= base + 20), (base, _threads(wharfd))
        for s in socks:
            s.close()
        assert eventually(lambda: _threads(wharfd) <= base), (base, _threads(wharfd))
    finally:
        wharfd.wharf("rm", "-f", cid)
