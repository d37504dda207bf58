"""A minimal HTTP/1.1 client for the Docker Engine API over unix or TCP sockets.

Raw sockets rather than ``http.client``: the CLI pays for every import on
every run (``http.client`` drags in the ``email`` package), and attach/exec
need the socket itself after the response headers (a hijacked connection),
which ``http.client`` does not hand out cleanly.

Modules are imported where they are used: ``wharf version -f
'{{.Client.Version}}'`` never opens a socket or parses JSON, and is timed.
JSON goes through ``jsonio`` (the stdlib's C codec without ``json``'s
``re`` import).

One connection per request: the CLI makes a handful of requests per run, so
keep-alive would buy nothing and cost a pool.
"""

from __future__ import annotations

import os
TYPE_CHECKING = False  # typing costs the CLI ~6 ms of import time
if TYPE_CHECKING:
    from typing import Any, Iterable, Iterator

from wharf import API_VERSION, __version__

DEFAULT_HOST = "unix:///run/wharf/wharf.sock"
_CHUNK = 65536


def default_host() -> str:
    """The daemon of the ``default`` context: DOCKER_HOST; else, for a user other than
    root, that user's rootless daemon when its socket exists (``$XDG_RUNTIME_DIR/wharf.sock``,
    what ``docker context use rootless`` points the docker CLI at); else root's."""
    host = os.environ.get("DOCKER_HOST")
    if host:
        return host
    runtime = os.environ.get("XDG_RUNTIME_DIR")
    if runtime and os.geteuid() != 0 and os.path.exists(os.path.join(runtime, "wharf.sock")):
        return f"unix://{runtime}/wharf.sock"
    return DEFAULT_HOST


class APIError(Exception):
    """The daemon answered with an error status; ``message`` is its ``{"message"}``."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class StreamError(Exception):
    """The daemon's answer broke off or went wrong mid-way: a chunked body without
    its last chunk, a body shorter than its Content-Length, headers cut short.

    The docker CLI (Go's net/http) says ``unexpected EOF`` and exits 1; a
    command must never take a cut stream for a finished one (a pull that
    "succeeds" with half its layers).
    """

    def __init__(self, message: str = "unexpected EOF") -> None:
        super().__init__(message)
        self.message = message


class DaemonUnreachable(Exception):
    """No daemon listens at the host: docker's wording, with the address tried."""

    def __init__(self, host: str) -> None:
        super().__init__(f"Cannot connect to the Docker daemon at {host}. Is the docker daemon running?")
        self.host = host


def quote(text: str) -> str:
    """Percent-encode a query value (``urllib.parse`` costs an import for this)."""
    safe = b"-_.~abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
    return "".join(chr(b) if b in safe else f"%{b:02X}" for b in text.encode())


def encode_query(params: dict[str, Any] | None) -> str:
    """``?k=v&…`` for the non-None params; bools as 1/0, dicts and lists as JSON (docker's filters)."""
    if not params:
        return ""
    from wharf.client import jsonio
    parts = []
    for key, value in params.items():
        if value is None:
            continue
        if isinstance(value, bool):
            value = int(value)
        elif isinstance(value, (dict, list)):
            value = jsonio.dumps(value).decode()
        parts.append(f"{quote(key)}={quote(str(value))}")
    return "?" + "&".join(parts) if parts else ""


class Connection:
    """A connected socket with a read buffer, so headers and body can be split anywhere."""

    def __init__(self, sock: socket.socket) -> None:  # noqa: F821 (imported when connecting)
        self.sock = sock
        self._buf = b""

    def recv(self, n: int = _CHUNK) -> bytes:
        """Up to ``n`` bytes, buffered ones first; b"" at EOF."""
        if self._buf:
            data, self._buf = self._buf[:n], self._buf[n:]
            return data
        return self.sock.recv(n)

    def read_exact(self, n: int) -> bytes:
        """Exactly ``n`` bytes, or fewer only at EOF."""
        out = bytearray()
        while len(out) < n:
            data = self.recv(n - len(out))
            if not data:
                break
            out += data
        return bytes(out)

    def readline(self) -> bytes:
        """One line including its CRLF, or what is left at EOF."""
        while b"\n" not in self._buf:
            data = self.sock.recv(_CHUNK)
            if not data:
                line, self._buf = self._buf, b""
                return line
            self._buf += data
        line, _, self._buf = self._buf.partition(b"\n")
        return line + b"\n"

    def sendall(self, data: bytes) -> None:
        self.sock.sendall(data)

    def close_write(self) -> None:
        """Half-close: the daemon sees stdin EOF while output keeps flowing."""
        import _socket
        try:
            self.sock.shutdown(_socket.SHUT_WR)
        except OSError:
            pass

    def fileno(self) -> int:
        return self.sock.fileno()

    def pending(self) -> bool:
        """Whether buffered bytes wait (select() on the socket would not see them)."""
        return bool(self._buf)

    def close(self) -> None:
        self.sock.close()


class Response:
    """Status, headers and a body read incrementally (Content-Length, chunked or to EOF)."""

    def __init__(self, conn: Connection, status: int, headers: dict[str, str]) -> None:
        self.conn = conn
        self.status = status
        self.headers = headers
        self._chunked = headers.get("transfer-encoding", "").lower() == "chunked"
        length = headers.get("content-length")
        self._remaining = int(length) if length is not None and not self._chunked else None
        self._chunk_left = 0
        self._done = status in (204, 304) or self._remaining == 0
        self._body: bytes | None = None

    def read_some(self, n: int = _CHUNK) -> bytes:
        """Up to ``n`` body bytes as they arrive; b"" at the body's end.

        Raises ``StreamError`` when the connection ends before the body does
        (only a body without length or chunking ends at EOF).
        """
        try:
            return self._read_some(n)
        except ConnectionResetError:
            raise StreamError("read: connection reset by peer") from None

    def _read_some(self, n: int) -> bytes:
        if self._done:
            return b""
        if self._chunked:
            if self._chunk_left == 0 and not self._next_chunk():
                self._done = True
                return b""
            data = self._recv_body(min(n, self._chunk_left))
            self._chunk_left -= len(data)
            if self._chunk_left == 0:
                end = self.conn.read_exact(2)  # the CRLF after each chunk's data
                if end != b"\r\n":
                    raise StreamError() if len(end) < 2 else StreamError("malformed chunked encoding")
        elif self._remaining is not None:
            data = self._recv_body(min(n, self._remaining))
            self._remaining -= len(data)
            self._done = self._remaining <= 0
        else:
            data = self.conn.recv(n)
            self._done = not data
        return data

    def _recv_body(self, n: int) -> bytes:
        """At least one byte of a body whose length is known, or ``StreamError``."""
        data = self.conn.recv(n)
        if not data:
            raise StreamError()
        return data

    def _read_line(self) -> bytes:
        """A whole line of the chunked framing, or ``StreamError`` at EOF."""
        line = self.conn.readline()
        if not line.endswith(b"\n"):
            raise StreamError()
        return line

    def _next_chunk(self) -> bool:
        """Read a chunk-size line; False at the last chunk (trailers skipped)."""
        size = self._read_line().split(b";")[0].strip()
        if not size or size.strip(b"0123456789abcdefABCDEF"):
            raise StreamError("malformed chunked encoding")
        self._chunk_left = int(size, 16)
        if self._chunk_left == 0:
            while self._read_line().strip():
                pass
            return False
        return True

    def iter_chunks(self) -> Iterator[bytes]:
        """Body pieces as they arrive (log and attach streams)."""
        while data := self.read_some():
            yield data

    def read(self) -> bytes:
        """The whole body (kept, so a second call returns it again)."""
        if self._body is None:
            out = bytearray()
            while data := self.read_some():
                out += data
            self._body = bytes(out)
        return self._body

    def iter_lines(self) -> Iterator[bytes]:
        """Body lines as they arrive (JSON-lines streams: events, stats, pull progress)."""
        buf = b""
        for data in self.iter_chunks():
            buf += data
            while b"\n" in buf:
                line, buf = buf.split(b"\n", 1)
                if line.strip():
                    yield line
        if buf.strip():
            yield buf

    def iter_json(self) -> Iterator[Any]:
        """Each JSON value of a JSON-lines stream."""
        from wharf.client import jsonio
        for line in self.iter_lines():
            yield jsonio.loads(line)

    def json(self) -> Any:
        from wharf.client import jsonio
        body = self.read()
        return jsonio.loads(body) if body.strip() else None

    def close(self) -> None:
        self.conn.close()


def error_message(status: int, body: bytes) -> str:
    """The ``message`` of an error body, or the body itself when it is not Docker-shaped."""
    from wharf.client import jsonio
    try:
        data = jsonio.loads(body)
        if isinstance(data, dict) and "message" in data:
            return str(data["message"])
    except ValueError:
        pass
    text = body.decode(errors="replace").strip()
    return text or f"error {status}"


def _split_host(host: str) -> tuple[str, Any]:
    """("unix", path) or ("tcp", (host, port)) from a DOCKER_HOST-style address."""
    if host.startswith("unix://"):
        return "unix", host[len("unix://"):]
    if host.startswith("/"):
        return "unix", host
    rest = host.split("://", 1)[1] if "://" in host else host
    rest = rest.split("/", 1)[0]
    name, _, port = rest.rpartition(":")
    if not name:
        name, port = rest, "2375"
    return "tcp", (name.strip("[]") or "localhost", int(port or 2375))


class Client:
    """A handle on one daemon; connects per request."""

    def __init__(self, host: str | None = None, timeout: float | None = None,
                 tls: Any = None) -> None:
        """``tls``: an ``ssl.SSLContext`` (``wharf.client.tls.context``); by default
        DOCKER_TLS_VERIFY/DOCKER_CERT_PATH decide, as for the docker CLI."""
        self.host = host or default_host()
        self.timeout = timeout
        if tls is None and os.environ.get("DOCKER_TLS_VERIFY"):
            from wharf.client.tls import context
            tls = context(verify=True)
        self.tls = tls
        self._family, self._address = _split_host(self.host)

    # -- connecting --------------------------------------------------------
    def _connect(self) -> Connection:
        # _socket, not socket: the wrapper imports selectors and enum (with collections
        # and functools), a few ms of every command; ssl needs the wrapper's class.
        if self.tls is not None and self._family == "tcp":
            from socket import socket as new_socket
        else:
            from _socket import socket as new_socket
        import _socket
        family = _socket.AF_UNIX if self._family == "unix" else _socket.AF_INET
        if self._family == "tcp" and ":" in self._address[0]:
            family = _socket.AF_INET6
        sock = new_socket(family, _socket.SOCK_STREAM)
        sock.settimeout(self.timeout)
        try:
            sock.connect(self._address)
            if self.tls is not None and self._family == "tcp":
                sock = self.tls.wrap_socket(sock, server_hostname=self._address[0])
        except OSError as e:
            sock.close()
            if type(e).__module__ == "ssl":
                raise DaemonUnreachable(f"{self.host}: {e}") from None
            raise DaemonUnreachable(self.host) from None
        return Connection(sock)

    # -- requests ----------------------------------------------------------
    def send(self, method: str, path: str, params: dict[str, Any] | None = None,
             body: Any = None, headers: dict[str, str] | None = None) -> Connection:
        """Send a request and return its connection before any answer is read.

        ``run`` needs this: its wait request must reach the daemon before the
        start does, but its answer only comes when the container exits.
        """
        conn = self._connect()
        hdrs = {"Host": "docker", "User-Agent": f"wharf-cli/{__version__}"}
        payload: bytes | None = None
        chunks: Iterable[bytes] | None = None
        if isinstance(body, (dict, list)):
            from wharf.client import jsonio
            payload = jsonio.dumps(body)
            hdrs["Content-Type"] = "application/json"
        elif isinstance(body, (bytes, bytearray)):
            payload = bytes(body)
        elif body is not None:
            chunks = body
            hdrs["Transfer-Encoding"] = "chunked"
        if payload is not None:
            hdrs["Content-Length"] = str(len(payload))
        elif chunks is None and method in ("POST", "PUT"):
            hdrs["Content-Length"] = "0"
        hdrs.update(headers or {})
        head = f"{method} /v{API_VERSION}{path}{encode_query(params)} HTTP/1.1\r\n"
        head += "".join(f"{k}: {v}\r\n" for k, v in hdrs.items()) + "\r\n"
        try:
            conn.sendall(head.encode() + (payload or b""))
            for chunk in chunks or ():
                if chunk:
                    conn.sendall(b"%x\r\n%s\r\n" % (len(chunk), chunk))
            if chunks is not None:
                conn.sendall(b"0\r\n\r\n")
        except OSError:
            conn.close()
            raise DaemonUnreachable(self.host) from None
        return conn

    def receive(self, conn: Connection) -> Response:
        """Read the status line and headers of the answer on ``conn``."""
        while True:
            status_line = conn.readline()
            if not status_line:
                conn.close()
                raise DaemonUnreachable(self.host)
            parts = status_line.decode("latin-1").split(None, 2)
            if not status_line.endswith(b"\n") or len(parts) < 2 or not parts[1].isdigit():
                conn.close()
                raise StreamError(f'malformed HTTP response "{status_line.decode("latin-1").strip()}"'
                                  if status_line.endswith(b"\n") else "unexpected EOF")
            status = int(parts[1])
            headers: dict[str, str] = {}
            while (raw := conn.readline()) != b"\r\n" and raw != b"\n":
                if not raw.endswith(b"\n"):
                    conn.close()
                    raise StreamError()  # the connection ended inside the headers
                key, _, value = raw.decode("latin-1").partition(":")
                headers[key.strip().lower()] = value.strip()
            if status != 100:
                return Response(conn, status, headers)

    def request(self, method: str, path: str, params: dict[str, Any] | None = None,
                body: Any = None, headers: dict[str, str] | None = None,
                stream: bool = False) -> Response:
        """One request. Raises ``APIError`` for a status >= 400.

        With ``stream`` the body is left unread for the caller (logs -f,
        events, stats); otherwise it is read and the connection closed.
        """
        resp = self.receive(self.send(method, path, params, body, headers))
        return self.check(resp, stream)

    @staticmethod
    def check(resp: Response, stream: bool = False) -> Response:
        """Raise ``APIError`` for an error status; buffer and close unless ``stream``."""
        if resp.status >= 400:
            body = resp.read()
            resp.close()
            raise APIError(resp.status, error_message(resp.status, body))
        if not stream:
            resp.read()
            resp.close()
        return resp

    def json(self, method: str, path: str, params: dict[str, Any] | None = None,
             body: Any = None, headers: dict[str, str] | None = None) -> Any:
        """The decoded JSON answer (None for an empty body)."""
        return self.request(method, path, params, body, headers).json()

    def get(self, path: str, **params: Any) -> Any:
        return self.json("GET", path, params)

    def hijack(self, method: str, path: str, params: dict[str, Any] | None = None,
               body: Any = None) -> Connection:
        """Upgrade the connection to a raw bidirectional stream (attach, exec start).

        Docker answers 101 to ``Upgrade: tcp``, older daemons 200; both hand
        over the raw socket after the headers.
        """
        conn = self.send(method, path, params, body,
                         {"Connection": "Upgrade", "Upgrade": "tcp"})
        resp = self.receive(conn)
        if resp.status >= 400:
            self.check(resp)
        if resp.status not in (101, 200):
            conn.close()
            raise APIError(resp.status, f"unexpected status {resp.status} on {path}")
        return conn

    def ping(self) -> bool:
        return self.request("GET", "/_ping").status == 200
