"""The API listeners: a unix socket only root and group ``wharf`` may open,
and TCP only behind TLS that verifies client certificates, as dockerd.

A plain TCP listener lets anyone who reaches the port run containers as
root, so it needs an explicit ``--tls=false`` and prints dockerd's warning;
``--tls`` alone encrypts but lets any client in, and warns as well.
"""

from __future__ import annotations

import grp
import logging
import os
import socket
import ssl
import subprocess
from dataclasses import dataclass

from aiohttp import web

log = logging.getLogger("wharfd")
SOCKET_GROUP = "wharf"


@dataclass
class TLSOptions:
    """dockerd's flags: ``tls`` None = not given, True/False = ``--tls[=bool]``."""

    tls: bool | None = None
    verify: bool = False
    ca: str = ""
    cert: str = ""
    key: str = ""


def socket_gid(group: str = SOCKET_GROUP) -> int:
    """The socket group's id. Group ``wharf`` is created (as a system group) when
    missing; another one named by ``--group`` must exist, as dockerd's."""
    try:
        return grp.getgrnam(group).gr_gid
    except KeyError:
        pass
    if group.isdigit():
        return int(group)
    if group != SOCKET_GROUP:
        log.warning("group %s not found: the API socket stays root-only", group)
        return 0
    try:
        subprocess.run(["groupadd", "--system", group], check=True, capture_output=True)
        return grp.getgrnam(group).gr_gid
    except (OSError, subprocess.CalledProcessError, KeyError) as e:
        log.warning("cannot create group %s (%s): the socket stays root-only", group, e)
        return 0


def secure_socket(path: str, group: str = SOCKET_GROUP) -> None:
    """root:<group> (``wharf`` unless ``--group``), 0660: the daemon's socket is root-equivalent."""
    os.chown(path, 0, socket_gid(group))
    os.chmod(path, 0o660)


def server_context(opts: TLSOptions) -> ssl.SSLContext | None:
    """The TLS context of a TCP listener, or None for plain TCP; refuses an unsafe setup."""
    if opts.verify or opts.tls:
        if not (opts.cert and opts.key):
            raise SystemExit("wharfd: TLS needs --tlscert and --tlskey")
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ctx.minimum_version = ssl.TLSVersion.TLSv1_2
        ctx.load_cert_chain(opts.cert, opts.key)
        if opts.verify:
            if not opts.ca:
                raise SystemExit("wharfd: --tlsverify needs --tlscacert")
            ctx.load_verify_locations(opts.ca)
            ctx.verify_mode = ssl.CERT_REQUIRED
        else:
            log.warning("Binding to an IP address with --tls but without --tlsverify: "
                        "any client can use the API and get root on this host")
        return ctx
    if opts.tls is None:
        raise SystemExit("wharfd: refusing a TCP listener without TLS: pass --tlsverify "
                         "--tlscacert --tlscert --tlskey, or --tls=false to accept the risk")
    log.warning("Binding to IP address without --tlsverify is insecure and gives root access "
                "on this machine to everyone who has access to your network.")
    return None


def activated_sockets(host: str) -> list[socket.socket]:
    """The sockets systemd passed (``-H fd://``: all of them; ``fd://N``: fd N), by
    the socket-activation protocol: LISTEN_FDS of them from fd 3, for LISTEN_PID."""
    count = int(os.environ.get("LISTEN_FDS") or 0)
    if os.environ.get("LISTEN_PID") not in (None, str(os.getpid())) or count == 0:
        raise SystemExit("wharfd: no sockets found via socket activation: make sure the "
                         "service was started by systemd")
    fds = list(range(3, 3 + count))
    wanted = host[len("fd://"):]
    if wanted:
        if not wanted.isdigit() or int(wanted) not in fds:
            raise SystemExit(f"wharfd: too few socket activated files passed in by systemd: "
                             f"{host}")
        fds = [int(wanted)]
    for name in ("LISTEN_PID", "LISTEN_FDS", "LISTEN_FDNAMES"):
        os.environ.pop(name, None)  # not for the shim launcher and what it starts
    return [socket.socket(fileno=fd) for fd in fds]


async def listen(runner: web.AppRunner, host: str, tls: TLSOptions | None,
                 group: str = SOCKET_GROUP) -> web.BaseSite:
    if host.startswith("unix://"):
        path = host[len("unix://"):]
        os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
        if os.path.exists(path):
            os.unlink(path)  # a stale socket of a dead daemon
        site: web.BaseSite = web.UnixSite(runner, path)
        await site.start()
        secure_socket(path, group)
        return site
    if host.startswith("fd://"):
        sites = [web.SockSite(runner, sock) for sock in activated_sockets(host)]
        for site in sites:
            await site.start()
        return sites[0]
    if host.startswith("tcp://"):
        address, _, port = host[len("tcp://"):].rpartition(":")
        ctx = server_context(tls or TLSOptions())
        site = web.TCPSite(runner, address.strip("[]") or "127.0.0.1",
                           int(port or (2376 if ctx else 2375)), ssl_context=ctx)
        await site.start()
        return site
    raise SystemExit(f"wharfd: invalid host {host!r}: use unix:///path, tcp://host:port or fd://")
