"""Host ports of a daemon that lives in a network namespace of its own (rootless).

A rootless wharfd runs in a network namespace its user made (``wharf.daemon.rootless``):
a port it bound there would be reachable from that namespace only. So its parent,
which stays in the host's namespace, binds published ports for it and hands the
bound socket over; the daemon's userland proxy then accepts on it and relays to
the container from inside (one relay, where RootlessKit's builtin port driver has
two). A socket keeps the namespace it was made in, so nothing else is needed, and
closing the proxy closes the host port: there is no unpublish request.

The parent's port API is a unix socket; one request per connection: a JSON line
``{"proto": "tcp"|"udp", "host": ip, "port": n}``, answered by one message
``{"errno": 0}`` carrying the socket (SCM_RIGHTS), or ``{"errno": n}``.
"""

from __future__ import annotations

import errno
import json
import socket

#: How long the daemon waits for its parent's answer (it answers at once, or is gone).
TIMEOUT = 10.0


def open_socket(proto: str, host: str, port: int) -> socket.socket:
    """A socket bound to ``host:port`` (TCP with SO_REUSEADDR, as docker-proxy's);
    OSError as bind(2) fails."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM if proto == "tcp" else socket.SOCK_DGRAM)
    try:
        if proto == "tcp":
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
    except OSError:
        sock.close()
        raise
    return sock


def privileged_port_hint(port: int) -> str:
    """RootlessKit's words for a port below the host's unprivileged start (1024)."""
    try:
        with open("/proc/sys/net/ipv4/ip_unprivileged_port_start") as f:
            current = f.read().strip()
    except OSError:
        current = "1024"
    return (f"cannot expose privileged port {port}, you can add "
            f"'net.ipv4.ip_unprivileged_port_start={port}' to /etc/sysctl.conf (currently "
            f"{current}), or choose a larger port number (>= {current})")


def bind(api: str, proto: str, host: str, port: int) -> socket.socket:
    """``open_socket`` done by the parent behind ``api``, in the host's network namespace."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as conn:
        conn.settimeout(TIMEOUT)
        conn.connect(api)
        conn.sendall(json.dumps({"proto": proto, "host": host, "port": port}).encode() + b"\n")
        message, fds, _, _ = socket.recv_fds(conn, 4096, 1)
    if fds:
        return socket.socket(fileno=fds[0])
    if not message:
        raise ConnectionResetError(f"rootless port driver {api}: no answer")
    answer = json.loads(message)
    raise OSError(answer["errno"], answer.get("error") or "")


def serve(conn: socket.socket) -> None:
    """The parent's side of one request on ``conn`` (blocking; the caller closes ``conn``)."""
    conn.settimeout(TIMEOUT)
    request = json.loads(conn.makefile("rb").readline())
    port = int(request["port"])
    try:
        sock = open_socket(request["proto"], request["host"], port)
    except OSError as e:
        why = privileged_port_hint(port) if e.errno == errno.EACCES else e.strerror
        conn.sendall(json.dumps({"errno": e.errno, "error": why}).encode())
        return
    with sock:
        socket.send_fds(conn, [b'{"errno": 0}'], [sock.fileno()])
