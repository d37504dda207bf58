"""From a container record to a running shim: the bundle (OCI ``config.json``,
the shim options, rootfs mount, /etc files) and the launcher that forks shims.

The bundle is rebuilt on every start from the record (and the rw layer), so a
record is the only state that must survive; ``cleanup_bundle`` undoes it
after an exit (never deleting through a rootfs that is still mounted).
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import socket
import subprocess
from typing import Any, Callable

from wharf.config import DaemonConfig
from wharf.engine import etcfiles, imagemounts, logs, mounts, security
from wharf.engine.container import Container
from wharf.engine.images import ImageService
from wharf.fsutil import write_json_atomic
from wharf.image.store import ImageStore
from wharf.errors import InvalidParameter
from wharf.linux import mountinfo
from wharf.runtime import cgroups
from wharf.runtime import spec as specs
from wharf.runtime.user import with_home
from wharf.shim import client

log = logging.getLogger("wharf.engine")
DEFAULT_PATH = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
INIT_BINARY = "/usr/bin/tini-static"


def rootfs_path(bundle: str) -> str:
    return os.path.join(bundle, "rootfs")


NAMESPACE_MODES = (("network", "NetworkMode", "net"), ("pid", "PidMode", "pid"),
                   ("ipc", "IpcMode", "ipc"), ("uts", "UTSMode", "uts"))
#: Container ref → pid of its init, for ``--network container:x`` and friends.
PidOf = Callable[[str, str], int]


def namespaces(c: Container, pid_of: PidOf) -> dict[str, str]:
    """spec.build's namespace requests: "host", or a /proc path to join another container's."""
    wanted: dict[str, str] = {}
    for kind, key, proc_name in NAMESPACE_MODES:
        mode = c.host_config.get(key) or ""
        if mode == "host":
            wanted[kind] = "host"
        elif mode.startswith("container:"):
            wanted[kind] = f"/proc/{pid_of(mode.split(':', 1)[1], kind)}/ns/{proc_name}"
    return wanted


def resources(hc: dict[str, Any]) -> specs.Resources:
    """The spec's limits from a HostConfig (a start, and ``update`` of a running one)."""
    return specs.Resources(
        memory=hc.get("Memory") or 0, memory_reservation=hc.get("MemoryReservation") or 0,
        memory_swap=hc.get("MemorySwap") or 0, cpu_shares=hc.get("CpuShares") or 0,
        cpu_quota=hc.get("CpuQuota") or 0, cpu_period=hc.get("CpuPeriod") or 0,
        nano_cpus=hc.get("NanoCpus") or 0, cpuset_cpus=hc.get("CpusetCpus") or "",
        cpuset_mems=hc.get("CpusetMems") or "", pids_limit=max(hc.get("PidsLimit") or 0, 0),
        blkio_weight=hc.get("BlkioWeight") or 0)


def rlimits(hc: dict[str, Any], config: DaemonConfig) -> list[dict[str, Any]]:
    """OCI rlimits: the container's ``--ulimit``s, and the daemon's ``--default-ulimit``
    for each one the container does not set (dockerd's mergeUlimits)."""
    ulimits = {u["Name"]: u for u in config.default_ulimits.values()}
    ulimits.update({u["Name"]: u for u in hc.get("Ulimits") or []})
    return [{"type": "RLIMIT_" + name.upper(), "hard": u["Hard"], "soft": u["Soft"]}
            for name, u in ulimits.items()]


def process_env(c: Container, tty: bool) -> list[str]:
    """Config.Env plus what Docker adds at start: PATH if unset, HOSTNAME, TERM for a tty,
    the legacy links' variables (set at start; Config.Env wins over them)."""
    env = list(c.config.get("Env") or [])
    keys = {e.split("=", 1)[0] for e in env}
    extra = [] if "PATH" in keys else [DEFAULT_PATH]
    extra.append(f"HOSTNAME={c.config['Hostname']}")
    if tty and "TERM" not in keys:
        extra.append("TERM=xterm")
    extra += [e for e in c.private.get("LinkEnv") or [] if e.split("=", 1)[0] not in keys]
    return extra + env


def _write_bundle(c: Container, bundle: str, config: DaemonConfig, store: ImageStore,
                  cgroups_path: str, joins: dict[str, str]) -> dict[str, Any]:
    """Write the OCI spec (and the etc files); return the shim's options. Those go in
    the start request, not a file: one inode less to allocate per start."""
    hc, cfg = c.host_config, c.config
    rootfs = rootfs_path(bundle)
    etc = etcfiles.write_all(c.dir, cfg["Hostname"], hc, config, cfg.get("Domainname") or "")
    binds = [{"destination": target, "type": "bind", "source": source,
              "options": ["rbind", "rprivate"]} for target, source in etc.items()]
    binds += mounts.to_oci(c.private.get("MountPoints") or [], hc.get("Tmpfs"),
                           imagemounts.oci_mount(store))
    uid, gid, gids = specs.parse_user(cfg.get("User") or "", rootfs)
    gids = list(dict.fromkeys(gids + security.group_ids(hc.get("GroupAdd") or [], rootfs)))
    sec = security.inputs(hc)
    limits = resources(hc)
    limits.devices = sec.cgroup_rules
    tty = bool(cfg.get("Tty"))
    spec = specs.build(
        args=[c.record["Path"], *c.record["Args"]], rootfs=rootfs,
        env=with_home(process_env(c, tty), uid, rootfs),
        cwd=cfg.get("WorkingDir") or "/", uid=uid, gid=gid, additional_gids=gids,
        hostname=cfg["Hostname"], tty=tty, console_size=_console_size(hc),
        cgroups_path=cgroups_path, resources=limits, binds=binds,
        capabilities=sec.capabilities, shm_size=hc.get("ShmSize") or 0,
        namespaces={"cgroup": "private" if cgroups.is_v2() else "host", **joins},
        init=INIT_BINARY if hc.get("Init") else None,
        readonly_rootfs=bool(hc.get("ReadonlyRootfs")), privileged=bool(hc.get("Privileged")),
        no_new_privs=sec.no_new_privs, seccomp=sec.seccomp, devices=sec.devices,
        sysctls=sec.sysctls, rlimits=rlimits(hc, config), annotations=hc.get("Annotations"),
        masked_paths=hc.get("MaskedPaths"), readonly_paths=hc.get("ReadonlyPaths"),
        id_mappings=_id_mappings(hc.get("IDMapping")),
        rootfs_propagation=mounts.root_propagation(c.private.get("MountPoints") or []))
    # The bundle is rebuilt at every start and lives under the exec root: no fsync.
    write_json_atomic(os.path.join(bundle, "config.json"), spec, 0o644, durable=False)
    log_path = logs.log_file(c.record)
    os.makedirs(os.path.dirname(log_path), exist_ok=True)  # local's local-logs/
    return {
        "id": c.id, "runtime": config.runtime_path(hc.get("Runtime") or config.default_runtime),
        "log_driver": logs.driver(c.record), "log_path": log_path,
        "log_opts": logs.shim_options(c.record),
        "tty": tty, "open_stdin": bool(cfg.get("OpenStdin")),
        "stdin_once": bool(cfg.get("StdinOnce")),
        # the shim keeps the first output for an attach announced, or already waiting:
        # an attach made before the start gets everything, as Docker's
        "attach": bool(cfg.get("AttachStdout") or cfg.get("AttachStderr") or c.attached),
        # ...and with no log to replay from (none, syslog), its exit waits for that attach
        "attach_waiting": c.attached,
    }


def _id_mappings(mapping: dict[str, Any] | None
                 ) -> tuple[list[dict[str, int]], list[dict[str, int]]] | None:
    """``HostConfig.IDMapping`` (the engine's, for the CRI's pod user namespaces; the
    Docker API has none): its uid and gid mappings in OCI's shape."""
    if not mapping:
        return None

    def oci(ranges: list[dict[str, int]]) -> list[dict[str, int]]:
        return [{"containerID": r["ContainerID"], "hostID": r["HostID"], "size": r["Size"]}
                for r in ranges]
    return oci(mapping.get("UIDMappings") or []), oci(mapping.get("GIDMappings") or [])


def _console_size(hc: dict[str, Any]) -> tuple[int, int] | None:
    size = hc.get("ConsoleSize") or [0, 0]
    return (size[0], size[1]) if size[0] and size[1] else None


async def build_bundle(c: Container, bundle: str, images: ImageService,
                       config: DaemonConfig, joins: dict[str, str]) -> dict[str, Any]:
    """Mount the rootfs and write the bundle (in one trip to a worker thread); returns
    the shim's options, which the start request carries."""
    if config.runtime_path(c.host_config.get("Runtime") or config.default_runtime) is None:
        raise InvalidParameter(f"unknown or invalid runtime name: {c.host_config['Runtime']}")

    def build() -> dict[str, Any]:
        os.makedirs(rootfs_path(bundle), 0o711, exist_ok=True)
        images.store.snapshots.mount(c.id, rootfs_path(bundle))
        return _write_bundle(c, bundle, config, images.store, cgroups_path(c, config), joins)
    return await asyncio.to_thread(build)


def _remove_bundle_files(bundle: str) -> None:
    """Delete the bundle, but only an empty (unmounted) rootfs: never the rw layer's files."""
    try:
        entries = os.listdir(bundle)
    except FileNotFoundError:
        return
    for name in entries:
        path = os.path.join(bundle, name)
        try:
            if name == "rootfs":
                os.rmdir(path)
            else:
                os.unlink(path)
        except IsADirectoryError:
            pass
        except OSError:
            return
    try:
        os.rmdir(bundle)
    except OSError:
        pass


def cgroups_path(c: Container, config: DaemonConfig) -> str:
    """``/{cgroup parent}/{id}``: the container's cgroup, under each hierarchy's root;
    "" (no cgroup, so no limits: moby's ToRootless) for the cgroup driver ``none``.
    A rootless daemon's only cgroups are in the one delegated to it: a container's
    own ``--cgroup-parent`` is taken below that one."""
    if config.cgroup_driver == "none":
        return ""
    parent = c.host_config.get("CgroupParent")
    if parent and config.delegated_cgroup:
        parent = f"{config.delegated_cgroup.strip('/')}/{parent.strip('/')}"
    parent = parent or config.cgroup_parent
    return f"/{parent.strip('/')}/{c.id}"


def _destroy_cgroup(path: str) -> None:
    """Kill stragglers and remove the cgroup (the shim does it too; a shim that died
    or failed half-way does not)."""
    if not path:  # the cgroup driver none
        return
    try:
        cgroups.open(path).destroy()
    except OSError as e:
        log.warning("removing cgroup %s: %s", path, e)


async def cleanup_bundle(c: Container, bundle: str, images: ImageService,
                         config: DaemonConfig) -> None:
    """After an exit or a failed start: cgroup, rootfs mount, bundle files (one trip
    to a worker thread: each costs the loop a wakeup, and this runs twice per ``--rm``)."""
    def cleanup() -> None:
        _destroy_cgroup(cgroups_path(c, config))
        rootfs = rootfs_path(bundle)
        if mountinfo.is_mount_point(rootfs):
            images.store.snapshots.unmount(rootfs)
        _remove_bundle_files(bundle)
    await asyncio.to_thread(cleanup)


class Launcher:
    """The shim launcher (``wharf.shim.launcher``), spoken to on the event loop.

    One reader task takes every answer off the launcher's socket and hands it
    to the start waiting for that bundle. No start ever blocks a thread while
    it waits: a start's answer comes only after its container passed the start
    gate, which the engine opens with more work of its own, so a start that
    held a pool thread could starve the work that would release it (16
    concurrent ``run -d`` deadlocked the daemon that way).
    """

    def __init__(self, config: DaemonConfig) -> None:
        self.config = config
        self._proc: subprocess.Popen[bytes] | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._reader_task: asyncio.Task[None] | None = None
        self._waiting: dict[str, asyncio.Future[dict[str, Any]]] = {}

    async def start(self) -> None:
        ours, theirs = socket.socketpair()
        with theirs:
            self._proc = client.start_launcher(self.config.exec_root, theirs)
        reader, self._writer = await asyncio.open_unix_connection(sock=ours)
        self._reader_task = asyncio.ensure_future(self._read_answers(reader))

    async def _read_answers(self, reader: asyncio.StreamReader) -> None:
        try:
            while line := await reader.readline():
                answer = json.loads(line)
                waiter = self._waiting.pop(answer.pop("bundle", None), None)
                if waiter is not None and not waiter.done():
                    waiter.set_result(answer)
        finally:
            for waiter in self._waiting.values():
                if not waiter.done():
                    waiter.set_result({"error": "the shim launcher exited", "kind": "shim"})
            self._waiting.clear()

    def launch(self, bundle: str, opts: dict[str, Any], gate: bool = False
               ) -> asyncio.Future[dict[str, Any]]:
        """Ask for the start now; the future gives ``{"pid": init_pid}`` or ``{"error",
        "kind"}`` once the container exec'd (or failed). ``opts``: the shim's
        (``build_bundle``'s). With ``gate`` the container waits before exec until
        ``open_gate`` (``wharf.runtime.startgate``): the request is written before
        this returns, so a gate line written after it can never overtake it. One
        launch per bundle at a time (the container's lock sees to it)."""
        assert self._writer is not None and self._reader_task is not None
        waiter = asyncio.get_running_loop().create_future()
        if self._reader_task.done():
            waiter.set_result({"error": "the shim launcher exited", "kind": "shim"})
            return waiter
        self._waiting[bundle] = waiter
        request = {"bundle": bundle, "opts": {**opts, "gate": True} if gate else opts}
        self._writer.write(json.dumps(request).encode() + b"\n")
        return waiter

    def open_gate(self, bundle: str, go: bool) -> None:
        """Let the gated start of ``bundle`` exec (``go``) or give up. A launcher that
        exited has answered that start already."""
        assert self._writer is not None and self._reader_task is not None
        if not self._reader_task.done():
            self._writer.write(json.dumps({"bundle": bundle, "gate": go}).encode() + b"\n")

    async def close(self) -> None:
        """EOF to the launcher: it exits, the shims it started keep running."""
        if self._writer is not None:
            self._writer.close()
        if self._reader_task is not None:
            await asyncio.gather(self._reader_task, return_exceptions=True)
        if self._proc is not None:
            await asyncio.to_thread(self._proc.wait)
