"""Docker's ``syslog`` log driver, in the shim host: each message of the
container's output sent to a syslog socket, formatted as moby's driver
(srslog) formats it (``wharf.runtime.syslogfmt``), never blocking the host's
loop.

* Where (``syslog-address``, checked at create by ``wharf.engine.logconfig``):
  ``unix://`` / ``unixgram://`` path (default ``/dev/log``; a datagram socket,
  or a stream one when the path is not), ``udp://`` or ``tcp://`` host:port.
* A syslog that is not there or does not keep up loses messages (counted
  in ``dropped``), the container never waits: datagrams that would block are
  dropped, and a stream connection buffers at most ``HIGH_WATER`` bytes.
"""

from __future__ import annotations

import os
import socket
from typing import Any

from wharf.runtime import syslogfmt
from wharf.runtime.logfile import Messages
from wharf.shim.loop import Outbox, Scope

#: what a stream connection may hold unsent before messages are dropped
HIGH_WATER = 1 << 20


def _connect(address: str) -> tuple[socket.socket, bool]:
    """A non-blocking socket connected (or connecting) to ``address``; True if a stream."""
    scheme, _, rest = address.partition("://")
    if scheme in ("", "unix", "unixgram"):
        path = rest or "/dev/log"
        kinds = [socket.SOCK_DGRAM] if scheme == "unixgram" else [socket.SOCK_DGRAM, socket.SOCK_STREAM]
        for i, kind in enumerate(kinds):
            sock = socket.socket(socket.AF_UNIX, kind | socket.SOCK_NONBLOCK | socket.SOCK_CLOEXEC)
            try:
                sock.connect(path)
                return sock, kind == socket.SOCK_STREAM
            except OSError:  # EPROTOTYPE: a stream socket there
                sock.close()
                if i == len(kinds) - 1:
                    raise
    host, _, port = rest.rpartition(":")
    host = host.strip("[]")
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    kind = socket.SOCK_STREAM if scheme == "tcp" else socket.SOCK_DGRAM
    sock = socket.socket(family, kind | socket.SOCK_NONBLOCK | socket.SOCK_CLOEXEC)
    try:
        sock.connect((host, int(port)))
    except BlockingIOError:  # a TCP connect under way: the Outbox writes once it is up
        pass
    return sock, kind == socket.SOCK_STREAM


class Writer(Messages):
    """The syslog driver's writer (``write``/``close``/``dropped``, as the file ones)."""

    def __init__(self, loop: Scope, opts: dict[str, Any]) -> None:
        super().__init__()
        self.format = syslogfmt.Formatter(opts.get("syslog-format") or "",
                                          syslogfmt.facility_code(opts.get("syslog-facility") or ""),
                                          opts.get("tag") or "", socket.gethostname(), os.getpid())
        self.out: Outbox | None = None
        try:
            self.sock: socket.socket | None
            self.sock, stream = _connect(opts.get("syslog-address") or "")
        except OSError:
            self.sock, stream = None, False
        if self.sock is not None and stream:
            self.out = Outbox(loop, self.sock.fileno(), self._lost)

    def _lost(self) -> None:
        if self.out is not None:
            self.out.fd = -1

    def _message(self, stream: str, line: bytes, ns: int, partial: bool) -> None:
        content = line if partial else line[:-1]
        if not content or self.sock is None:
            return
        message = self.format(stream, content, ns)
        if self.out is not None:
            if self.out.fd < 0 or len(self.out.buf) > HIGH_WATER:
                self.dropped += 1
            else:
                self.out.write(message + b"\n")
            return
        try:
            self.sock.send(message)
        except OSError:  # full (EAGAIN), or nobody listening
            self.dropped += 1

    def close(self) -> None:
        super().close()
        if self.out is not None and self.out.fd >= 0:
            sock = self.sock
            self.out.after_flush(lambda: sock.close() if sock else None)
        elif self.sock is not None:
            self.sock.close()
        self.sock = None
