"""``wharfd``: parse dockerd-style flags, build the engine, serve the API.

SIGTERM/SIGINT stop serving and leave containers running (live restore is
always on); the next wharfd finds them through their records and shims.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import sys
from concurrent.futures import ThreadPoolExecutor

from wharf.api.server import make_runner
from wharf.config import DaemonConfig
from wharf.daemon.listen import TLSOptions, listen
from wharf.engine.core import Engine
from wharf.registry.client.endpoints import validate_mirror

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
    p.add_argument("--registry-mirror", action="append", default=[], dest="registry_mirrors",
                   type=validate_mirror, help="preferred Docker registry mirror")
    p.add_argument("--tls", nargs="?", const="true", choices=("true", "false"),
                   help="use TLS; implied by --tlsverify (--tls=false: plain TCP, insecure)")
    p.add_argument("--tlsverify", action="store_true",
                   help="use TLS and verify the remote (clients' certificates)")
    p.add_argument("--tlscacert", default="", help="trust certs signed only by this CA")
    p.add_argument("--tlscert", default="", help="path to TLS certificate file")
    p.add_argument("--tlskey", default="", help="path to TLS key file")
    p.add_argument("--cluster-store", default="",
                   help="etcd://host:port[,host:port][/root]: the store of overlay networks")
    p.add_argument("--cluster-advertise", default="",
                   help="this host's underlay address (an IPv4 address or an interface)")
    a = p.parse_args(argv)
    if a.cluster_store and not a.cluster_advertise:
        p.error("--cluster-store needs --cluster-advertise")
    config = DaemonConfig(data_root=os.path.abspath(a.data_root),
                          exec_root=os.path.abspath(a.exec_root),
                          hosts=a.hosts or [DEFAULT_HOST], cgroup_parent=a.cgroup_parent,
                          default_runtime=a.default_runtime, log_level=a.log_level,
                          bridge_name=a.bridge_name, bip=a.bip,
                          firewall_table=a.firewall_table,
                          insecure_registries=a.insecure_registries,
                          registry_mirrors=a.registry_mirrors,
                          tls=TLSOptions(None if a.tls is None else a.tls == "true", a.tlsverify,
                                         a.tlscacert, a.tlscert, a.tlskey),
                          cluster_store=a.cluster_store, cluster_advertise=a.cluster_advertise)
    return config, a.pidfile or os.path.join(config.exec_root, "wharfd.pid")


async def serve(config: DaemonConfig) -> None:
    # Short disk and kernel work of many requests at once (64 concurrent rm -f)
    # runs side by side; work that waits on a client has threads of its own
    # (wharf.threads), so this pool never waits on anything but the kernel.
    asyncio.get_running_loop().set_default_executor(
        ThreadPoolExecutor(max_workers=32, thread_name_prefix="wharf-worker"))
    engine = Engine(config)
    await engine.start()
    runner = make_runner(engine)
    await runner.setup()
    for host in config.hosts:
        await listen(runner, host, config.tls)
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
    # pyroute2 logs a dump of every netlink message at debug level, and resets
    # its logger's level when it is first imported: import it, then quieten it.
    import pyroute2.config.log  # noqa: F401
    logging.getLogger("pyroute2").setLevel(logging.WARNING)
    # asyncio says "Using selector" for each loop a shim makes: noise that pushed a
    # crash out of the log tail a failing test prints.
    logging.getLogger("asyncio").setLevel(max(logging.INFO, logging.getLogger().level))
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
