"""``wharfd``: read dockerd-style flags and daemon.json, build the engine, serve the API.

SIGTERM/SIGINT stop serving and leave containers running (live restore, on
unless ``--live-restore=false``: then they are stopped first, each given up to
``--shutdown-timeout`` seconds); the next wharfd finds them through their
records and shims. SIGHUP reloads the settings dockerd reloads.
"""

from __future__ import annotations

import asyncio
import copy
import json
import logging
import os
import signal
import sys
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from wharf.api.server import make_runner
from wharf.config import DaemonConfig
from wharf.daemon import options, rootless
from wharf.daemon.listen import TLSOptions, listen
from wharf.engine.core import Engine
from wharf.image.drivers import DriverError

log = logging.getLogger("wharfd")
DEFAULT_HOST = "unix:///run/wharf/wharf.sock"


def parse_args(argv: list[str] | None = None) -> tuple[DaemonConfig, dict[str, Any]]:
    """The daemon's config (flags over daemon.json over defaults) and the flags given.
    A configuration dockerd refuses ends the process with dockerd's message."""
    try:
        config, namespace = options.load(argv)
    except options.ConfigError as e:
        print(f"wharfd: {e}", file=sys.stderr)
        raise SystemExit(1) from None
    config.hosts = config.hosts or [DEFAULT_HOST]
    config.pidfile = config.pidfile or os.path.join(config.exec_root, "wharfd.pid")
    if getattr(namespace, "validate", False):
        print("configuration OK", file=sys.stderr)
        raise SystemExit(0)
    return config, options.flag_values(namespace)


def _tls(config: DaemonConfig) -> TLSOptions:
    return TLSOptions(config.tls_enabled, config.tls_verify, config.tls_ca, config.tls_cert,
                      config.tls_key)


def _log_level(config: DaemonConfig) -> int:
    """``debug`` wins over ``log-level``, as dockerd's."""
    if config.debug:
        return logging.DEBUG
    return getattr(logging, {"warn": "WARNING", "fatal": "CRITICAL"}.get(
        config.log_level, config.log_level.upper()))


def reload(engine: Engine, flags: dict[str, Any]) -> None:
    """SIGHUP: read daemon.json again and apply the keys dockerd reloads; log what
    changed, and publish dockerd's ``daemon reload`` event. A file the start would
    refuse changes nothing."""
    config = engine.config
    try:
        settings = options.reloaded(config, flags)
        options.check(options.build(settings, copy.copy(config)))
    except options.ConfigError as e:
        log.error("Error reloading configuration: %s", e)
        return
    changed = {}
    for key, value in settings.items():
        name = options.BY_KEY[key].field
        if getattr(config, name) != value:
            changed[key] = (getattr(config, name), value)
            setattr(config, name, value)
    logging.getLogger().setLevel(_log_level(config))  # the rest is read from config when used
    current = {o.key: getattr(config, o.field) for o in options.OPTIONS if o.reload}
    log.info("Reloaded configuration: %s", json.dumps(current, sort_keys=True))
    for key, (old, new) in changed.items():
        log.info("reload: %s changed from %s to %s", key, json.dumps(old), json.dumps(new))
    engine.events.publish("daemon", "reload", engine.id,
                          {k: v if isinstance(v, str) else json.dumps(v) for k, v in current.items()})


async def serve(config: DaemonConfig, flags: dict[str, Any]) -> None:
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
        await listen(runner, host, _tls(config), config.group)
        log.info("API listen on %s", host)
    cri = None
    if config.cri_socket:
        from wharf.cri import server as cri_server  # grpc only for a daemon that serves the CRI
        cri = await cri_server.start(engine, config.cri_socket)
        log.info("CRI listen on %s", config.cri_socket)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    loop.add_signal_handler(signal.SIGHUP, reload, engine, flags)
    await stop.wait()
    if config.live_restore:
        log.info("shutting down; containers keep running (live restore)")
    else:
        log.info("shutting down; stopping containers (shutdown timeout %ds)", config.shutdown_timeout)
        await engine.containers.stop_all(config.shutdown_timeout)
    if cri is not None:
        await cri_server.stop(cri, config.cri_socket)
    await runner.cleanup()
    await engine.close()
    for host in config.hosts:
        if host.startswith("unix://"):
            try:
                os.unlink(host[len("unix://"):])
            except FileNotFoundError:
                pass


def main(argv: list[str] | None = None) -> int:
    config, flags = parse_args(argv)
    pidfile = config.pidfile
    logging.basicConfig(level=_log_level(config), stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if config.rootless:
        config.port_driver = rootless.inside()
        if not config.port_driver:  # the user's process: it runs this daemon again, inside
            try:
                return rootless.run(sys.argv[1:] if argv is None else argv, config)
            except rootless.RootlessError as e:
                print(f"wharfd: {e}", file=sys.stderr)
                return 1
        rootless.take_cgroup(config)
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
        asyncio.run(serve(config, flags))
    except DriverError as e:  # the data root's driver is another one: dockerd's words, no traceback
        print(f"wharfd: failed to start daemon: {e}", file=sys.stderr)
        return 1
    finally:
        try:
            os.unlink(pidfile)
        except FileNotFoundError:
            pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
