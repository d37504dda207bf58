"""``wharfd``: parse dockerd-style flags, build the engine, serve the API.

SIGTERM/SIGINT stop serving and leave containers running (live restore is
always on); the next wharfd finds them through their records and shims.
"""

from __future__ import annotations

import argparse
import asyncio
import grp
import logging
import os
import signal
import sys

from aiohttp import web

from wharf.api.app import make_app
from wharf.config import DaemonConfig
from wharf.engine.core import Engine

log = logging.getLogger("wharfd")
DEFAULT_HOST = "unix:///run/wharf/wharf.sock"


def parse_args(argv: list[str] | None = None) -> tuple[DaemonConfig, str]:
    """The daemon's config and its pidfile path."""
    p = argparse.ArgumentParser(prog="wharfd", description="The wharf container engine daemon")
    p.add_argument("-H", "--host", action="append", dest="hosts",
                   help="daemon socket(s) to listen on (unix:///path or tcp://host:port)")
    p.add_argument("--data-root", default="/var/lib/wharf")
    p.add_argument("--exec-root", default="/run/wharf")
    p.add_argument("-l", "--log-level", default="info",
                   choices=("debug", "info", "warn", "error", "fatal"))
    p.add_argument("--cgroup-parent", default="wharf")
    p.add_argument("--default-runtime", default="wharf")
    p.add_argument("-p", "--pidfile", default=None)
    p.add_argument("-b", "--bridge-name", default="wharf0",
                   help="interface of the default bridge network")
    p.add_argument("--bip", default="", help="default bridge's IP and prefix (10.9.0.1/24)")
    p.add_argument("--firewall-table", default="wharf", help="name of wharf's nftables table")
    p.add_argument("--insecure-registry", action="append", default=[], dest="insecure_registries",
                   help="registry (host[:port] or CIDR) to reach over plain HTTP")
    a = p.parse_args(argv)
    config = DaemonConfig(data_root=os.path.abspath(a.data_root),
                          exec_root=os.path.abspath(a.exec_root),
                          hosts=a.hosts or [DEFAULT_HOST], cgroup_parent=a.cgroup_parent,
                          default_runtime=a.default_runtime, log_level=a.log_level,
                          bridge_name=a.bridge_name, bip=a.bip,
                          firewall_table=a.firewall_table,
                          insecure_registries=a.insecure_registries)
    return config, a.pidfile or os.path.join(config.exec_root, "wharfd.pid")


def _secure_socket(path: str) -> None:
    """0660 and group ``wharf`` when it exists (dockerd's ``docker`` group), else root."""
    try:
        gid = grp.getgrnam("wharf").gr_gid
    except KeyError:
        gid = 0
    os.chown(path, 0, gid)
    os.chmod(path, 0o660)


async def _listen(runner: web.AppRunner, host: str) -> web.BaseSite:
    if host.startswith("unix://"):
        path = host[len("unix://"):]
        os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
        if os.path.exists(path):
            os.unlink(path)  # a stale socket of a dead daemon
        site: web.BaseSite = web.UnixSite(runner, path)
        await site.start()
        _secure_socket(path)
        return site
    if host.startswith("tcp://"):
        address, _, port = host[len("tcp://"):].rpartition(":")
        site = web.TCPSite(runner, address or "127.0.0.1", int(port or 2375))
        await site.start()
        return site
    raise SystemExit(f"wharfd: invalid host {host!r}: use unix:///path or tcp://host:port")


async def serve(config: DaemonConfig) -> None:
    engine = Engine(config)
    await engine.start()
    runner = web.AppRunner(make_app(engine), shutdown_timeout=1.0, access_log=None)
    await runner.setup()
    for host in config.hosts:
        await _listen(runner, host)
        log.info("API listen on %s", host)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    log.info("shutting down; containers keep running")
    await runner.cleanup()
    await engine.close()
    for host in config.hosts:
        if host.startswith("unix://"):
            try:
                os.unlink(host[len("unix://"):])
            except FileNotFoundError:
                pass


def main(argv: list[str] | None = None) -> int:
    config, pidfile = parse_args(argv)
    level = {"warn": "WARNING", "fatal": "CRITICAL"}.get(config.log_level, config.log_level.upper())
    logging.basicConfig(level=level, stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    os.makedirs(config.exec_root, exist_ok=True)
    with open(pidfile, "w") as f:
        f.write(str(os.getpid()))
    try:
        asyncio.run(serve(config))
    finally:
        try:
            os.unlink(pidfile)
        except FileNotFoundError:
            pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
