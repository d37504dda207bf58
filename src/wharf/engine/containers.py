"""ContainerService: the lifecycle of containers with Docker's rules.

Every change to one container runs under its lock; every blocking call
(mounts, file writes, cgroup access) runs in a thread. A running container's
shim is watched by one monitor task that turns its exit into state, events,
``--rm`` and restart policies. Nothing here holds a container process as a
child: the daemon can die and, at ``restore()``, find every container again.
"""

from __future__ import annotations

import asyncio
import copy
import errno
import json
import logging
import os
import shutil
import signal as signals
import time
from typing import Any, Awaitable

from wharf.config import DaemonConfig
from wharf.engine import filters as flt
from wharf.engine import health, imagemounts
from wharf.engine import links, logconfig, mounts, names, security, shims, validate
from wharf.engine import update as containerupdate
from wharf.engine.container import PRIVATE, Container, dead_record, new_state, state_word
from wharf.engine.events import EventBus
from wharf.engine.images import ContainerUse, ImageService
from wharf.engine.networks import NetworkService
from wharf.engine.launch import (Launcher, build_bundle, cgroups_path, cleanup_bundle,
                                 namespaces, rootfs_path)
from wharf.engine.restart import RestartPolicy
from wharf.engine.volumes import VolumeService, mount_points
from wharf.fsutil import disk_full, write_json_atomic
from wharf.engine.timefmt import parse_rfc3339, rfc3339nano
from wharf.runtime import cgroups
from wharf.errors import Conflict, InvalidParameter, NotFound, NotModified, WharfError

log = logging.getLogger("wharf.engine")

LIST_FILTERS = ("id", "name", "label", "status", "ancestor", "exited", "before", "since",
                "health", "isolation", "network", "publish", "expose", "volume")
STATUSES = ("created", "restarting", "running", "removing", "paused", "exited", "dead")
DEFAULT_STOP_TIMEOUT = 10
WAIT_CONDITIONS = ("not-running", "next-exit", "removed", "")
ATTACH_DRAIN = 5.0  # seconds an auto-remove waits for attach streams to finish
#: what every container record has (one without them is broken)
_RECORD_KEYS = ("Name", "Created", "State", "Image", "Config", "HostConfig", "Path", "Args")
TRASH = ".trash"  # removed containers' directories, deleted after the answer (see _to_trash)
#: ``update``'s warning where there is no cgroup to apply limits to (rootless on v1).
NO_CGROUP_LIMITS = ("Resource limits are recorded but not applied: a rootless daemon "
                    "without cgroups cannot limit containers")
#: The State of a container whose process runs (with its Pid and StartedAt).
_STARTED = {"Running": True, "Paused": False, "Restarting": False, "OOMKilled": False,
            "Dead": False, "ExitCode": 0, "Error": ""}
#: A cgroup file of a container whose exit removed the cgroup: gone (ENOENT), or
#: open while the directory was removed (ENODEV).
_CGROUP_GONE = (errno.ENOENT, errno.ENODEV)


def parse_signal(value: str | int | None, default: int = signals.SIGKILL) -> int:
    """A signal number from "9", "KILL" or "SIGKILL" (Docker's signal.ParseSignal)."""
    if value in (None, ""):
        return default
    text = str(value).upper()
    if text.isdigit():
        num = int(text)
        if 0 < num < signals.NSIG:
            return num
    else:
        try:
            return int(signals.Signals["SIG" + text.removeprefix("SIG")])
        except KeyError:
            pass
    raise InvalidParameter(f"Invalid signal: {value}")


class ContainerService:
    def __init__(self, config: DaemonConfig, events: EventBus, images: ImageService) -> None:
        self.config = config
        self.events = events
        self.images = images
        self.launcher = Launcher(config)
        #: Set by the Engine: volumes named by mount points, copy-up, option mounts.
        self.volumes: VolumeService = None  # type: ignore[assignment]
        #: Set by the Engine: namespaces, endpoints, ports and DNS of each start.
        self.networks: NetworkService = None  # type: ignore[assignment]
        #: Set by the Engine: HEALTHCHECK probes while a container runs (``engine.health``).
        self.health: Any = None
        self._by_id: dict[str, Container] = {}
        self._names: dict[str, str] = {}
        self._background: set[asyncio.Task[Any]] = set()

    # -- index -------------------------------------------------------------
    def get(self, ref: str) -> Container:
        """By full ID, name (with or without "/"), or unique ID prefix (Docker's order)."""
        if ref in self._by_id:
            return self._by_id[ref]
        cid = self._names.get(ref.lstrip("/"))
        if cid:
            return self._by_id[cid]
        if ref:
            found = [c for cid, c in self._by_id.items() if cid.startswith(ref)]
            if len(found) > 1:
                raise InvalidParameter(f"multiple IDs found with provided prefix: {ref}")
            if found:
                return found[0]
        raise NotFound(f"No such container: {ref}")

    def all(self) -> list[Container]:
        return list(self._by_id.values())

    def counts(self) -> dict[str, int]:
        words = [state_word(c.state) for c in self._by_id.values()]
        return {"total": len(words), "running": words.count("running") + words.count("restarting"),
                "paused": words.count("paused"),
                "stopped": sum(1 for w in words if w not in ("running", "paused", "restarting"))}

    def using_image(self, image_id: str) -> list[ContainerUse]:
        return [ContainerUse(c.id, c.running) for c in self._by_id.values()
                if c.record["Image"] == image_id or any(
                    p["Type"] == "image" and p["Source"] == image_id
                    for p in mount_points(c))]

    def _spawn(self, coro: Any) -> None:
        task = asyncio.ensure_future(coro)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def _save(self, c: Container, durable: bool = True, must: bool = False,
                    state: dict[str, Any] | None = None) -> None:
        """``durable=False`` for the run-state of a start or an exit: after a power loss
        no container is running whatever the record says (the restore at boot finds
        no shim), and a kill -9 of the daemon loses nothing in the page cache. Two
        fsyncs fewer per ``run --rm``. ``state``: fields of ``State`` that the record
        on disk gets ahead of memory (a start's, saved before its process runs).

        On a full disk a change of state (a start, an exit, a stop, a pause) has
        happened whatever the disk says: it is kept in memory and logged, so the
        daemon keeps serving and ``rm -f`` still works. Only what ``must`` be on
        disk (a create, a rename) is refused. A broken record is never written over."""
        if c.private.get("Broken"):
            return
        record = c.record if state is None else {**c.record, "State": {**c.state, **state}}
        try:
            await asyncio.to_thread(write_json_atomic, c.record_path, record, 0o600, durable)
        except OSError as e:
            if must or not disk_full(e):
                raise
            log.warning("container %s: state not saved: %s", c.id, os.strerror(e.errno))

    def bundle(self, c: Container) -> str:
        return os.path.join(self.config.bundles_dir, c.id)

    async def flush_log(self, c: Container) -> None:
        """Before a log read: what a running container (or one whose exit is not
        handled yet) wrote so far is in its log once this returns."""
        if c.state["Running"]:
            await shims.flush(self.bundle(c))

    # -- create ------------------------------------------------------------
    async def create(self, body: Any, name: str | None = None) -> dict[str, Any]:
        config, hc = validate.create_body(body)
        security.validate(hc)
        self._choose_runtime(body, hc)
        hc["LogConfig"] = logconfig.merged(hc.get("LogConfig"), self.config.log_driver,
                                           self.config.log_opts)
        warnings = containerupdate.unsupported(hc, self.config)
        name = names.validate_name(name) if name else names.random_name(set(self._names))
        if name in self._names:
            raise Conflict(f'Conflict. The container name "/{name}" is already in use by '
                           f'container "{self._names[name]}". You have to remove (or rename) '
                           "that container to be able to reuse that name.")
        image = await self.images.get(config["Image"])
        img = (image.config.get("config") or {})
        cmd = config.get("Cmd")
        entrypoint = config.get("Entrypoint")
        if entrypoint is None:
            entrypoint = img.get("Entrypoint")
            cmd = cmd if cmd is not None else img.get("Cmd")
        if not (entrypoint or cmd):
            raise InvalidParameter("No command specified")
        argv = list(entrypoint or []) + list(cmd or [])
        points = await self.volumes.resolve(hc, [*(config.get("Volumes") or {}),
                                                 *(img.get("Volumes") or {})],
                                            self._volumes_from(hc.get("VolumesFrom") or []))
        await imagemounts.resolve(points, self.images)
        cid = names.new_id()
        self._names[name] = cid  # reserved while the rw layer is made
        try:
            merged = _merge_image_config(config, img, cid, cmd, entrypoint)
            hc = _host_config_defaults(hc, self.config)
            directory = os.path.join(self.config.containers_dir, cid)
            record = {
                "Id": cid, "Created": rfc3339nano(time.time_ns()), "Path": argv[0],
                "Args": argv[1:], "State": new_state(), "Image": image.id,
                "ResolvConfPath": os.path.join(directory, "resolv.conf"),
                "HostnamePath": os.path.join(directory, "hostname"),
                "HostsPath": os.path.join(directory, "hosts"),
                "LogPath": os.path.join(directory, f"{cid}-json.log"),
                "Name": "/" + name, "RestartCount": 0, "Driver": self.config.storage_driver,
                "Platform": "linux", "MountLabel": "", "ProcessLabel": "",
                "AppArmorProfile": "", "ExecIDs": None, "HostConfig": hc,
                PRIVATE: {"MountPoints": points},
                "GraphDriver": {"Data": None, "Name": self.config.storage_driver}, "Mounts": [mounts.inspect(p) for p in points],
                "Config": merged,
                "NetworkSettings": {**_network_settings(hc),
                                    "Networks": self.networks.endpoint_settings(
                                        hc, body.get("NetworkingConfig"))},
            }
            await asyncio.to_thread(os.makedirs, directory, 0o710, True)
            await self.images.create_rw_layer(cid, image.id)
            c = Container(record, directory)
            # A --rm container that is not running is removed at boot (restore), so a
            # power loss can only lose what would go anyway: no fsync for it.
            await self._save(c, durable=not hc.get("AutoRemove"), must=True)
        except BaseException:
            self._names.pop(name, None)
            await self.volumes.remove_anonymous(points)
            await self.images.remove_rw_layer(cid)  # made before a full disk refused the record
            await asyncio.to_thread(shutil.rmtree, os.path.join(self.config.containers_dir, cid), True)
            raise
        self._by_id[cid] = c
        self.events.publish("container", "create", cid, c.event_attributes())
        return {"Id": cid, "Warnings": warnings}

    def _choose_runtime(self, body: dict[str, Any], hc: dict[str, Any]) -> None:
        """``HostConfig.Runtime``, refused at create when nobody registered it (dockerd's
        words). docker-py's ``create_container(runtime=)`` sends it beside the Config,
        where dockerd drops it and runs its default, runc: wharf, whose default is its
        own runtime, honours the runtime that client asked for."""
        if not hc.get("Runtime") and isinstance(body.get("Runtime"), str):
            hc["Runtime"] = body["Runtime"]
        runtime = hc.get("Runtime") or self.config.default_runtime
        if self.config.runtime_path(runtime) is None:
            raise InvalidParameter(f"Unknown runtime specified {runtime}")

    # -- list / inspect ----------------------------------------------------
    async def list(self, all: bool = False, limit: int | None = None, size: bool = False,
                   filters: flt.Filters | None = None) -> list[dict[str, Any]]:
        f = filters or {}
        for status in f.get("status", []):
            if status not in STATUSES:
                raise InvalidParameter(f"Invalid filter 'status={status}'")
        if f.get("status") or f.get("exited") or limit and limit > 0 or f.get("before") or f.get("since"):
            all = True
        chosen = sorted(self._by_id.values(), key=_created, reverse=True)
        chosen = await self._filter(chosen, f)
        if not all:
            chosen = [c for c in chosen if c.state["Running"]]
        if limit and limit > 0:
            chosen = chosen[:limit]
        out = []
        for c in chosen:
            out.append(c.summary(await self.images.rw_layer_size(c.id) if size else None))
        return out

    async def _filter(self, chosen: list[Container], f: flt.Filters) -> list[Container]:
        before = since = None
        if f.get("before"):
            before = _created(self.get(f["before"][0]))
        if f.get("since"):
            since = _created(self.get(f["since"][0]))
        ancestors: set[str] = set()
        for ref in f.get("ancestor", []):
            try:
                ancestors.add((await self.images.get(ref)).id)
            except NotFound:
                pass
        exited = {int(v) for v in f.get("exited", []) if v.lstrip("-").isdigit()}
        out = []
        for c in chosen:
            word = state_word(c.state)
            if f.get("id") and not any(c.id.startswith(v) for v in f["id"]):
                continue
            if f.get("name") and not any(v.lstrip("/") in c.name for v in f["name"]):
                continue
            if not flt.match_any(word, f.get("status")):
                continue
            if "label" in f and not flt.match_labels(c.config.get("Labels") or {}, f["label"]):
                continue
            if "ancestor" in f and c.record["Image"] not in ancestors:
                continue
            if "network" in f and not _on_network(c, f["network"]):
                continue
            if "volume" in f and not any(v in (p["Name"], p["Destination"]) for v in f["volume"]
                                         for p in mount_points(c)):
                continue
            if "exited" in f and (word != "exited" or c.state["ExitCode"] not in exited):
                continue
            if before is not None and _created(c) >= before:
                continue
            if since is not None and _created(c) <= since:
                continue
            out.append(c)
        return out

    async def inspect(self, ref: str, size: bool = False) -> dict[str, Any]:
        c = self.get(ref)
        out = c.inspect()
        if size:
            out["SizeRw"] = await self.images.rw_layer_size(c.id)
            out["SizeRootFs"] = out["SizeRw"]
        return out

    # -- start -------------------------------------------------------------
    async def start(self, ref: str) -> None:
        c = self.get(ref)
        async with c.lock:
            if c.state["Paused"]:
                raise Conflict("cannot start a paused container, try unpause instead")
            if c.running:
                raise NotModified("container already started")
            if c.restart_task:
                c.restart_task.cancel()
                c.restart_task = None
            c.private["ManuallyStopped"] = False
            try:
                await self._start_locked(c)
                return
            except Exception as e:
                if not c.host_config.get("AutoRemove"):
                    raise
                failure = e
        await self._remove_auto(c)  # Docker's rule: before the answer, when --rm cannot start
        raise failure

    async def _start_locked(self, c: Container) -> None:
        if c.id not in self._by_id:  # an rm took the lock first
            raise NotFound(f"No such container: {c.id}")
        if c.state.get("RemovalInProgress") or c.state.get("Dead"):
            raise Conflict("container is marked for removal and cannot be started")
        # Not awaited: it only has to be under way before the shim moves the process.
        asyncio.get_running_loop().run_in_executor(None, cgroups.prime_moves)
        bundle = self.bundle(c)
        joins = {**namespaces(c, self._namespace_owner), **self.networks.netns_join(c)}
        c.private["LaunchedAt"] = time.time_ns()  # its output is in the log from here on
        c.private["LinkEnv"] = self._link_env(c)
        try:
            shim_opts = await _both(build_bundle(c, bundle, self.images, self.config, joins),
                                    self.networks.make_sandbox(c))
            await self.volumes.attach(c, rootfs_path(bundle))
            result, started_at = await self._launch_behind_gate(c, bundle, shim_opts)
        except BaseException:
            await cleanup_bundle(c, bundle, self.images, self.config)
            await self.networks.detach(c)
            await self.volumes.detach(c)
            raise
        if "error" in result:
            await cleanup_bundle(c, bundle, self.images, self.config)
            await self.networks.detach(c)
            await self.volumes.detach(c)
            code = {"not_found": 127, "permission": 126}.get(result.get("kind", ""), 128)
            message = ("failed to create shim task: OCI runtime create failed: runc create "
                       f"failed: unable to start container process: {result['error']}: unknown")
            c.state.update(ExitCode=code, Error=message, Restarting=False, Running=False)
            await self._save(c)
            raise InvalidParameter(message)
        # The record on disk says so since the gate opened (``_launch_behind_gate``).
        c.state.update(_STARTED, Pid=int(result["pid"]), StartedAt=started_at)
        self.events.publish("container", "start", c.id, c.event_attributes())
        self._watch(c)
        c.notify("start")

    async def _launch_behind_gate(self, c: Container, bundle: str, shim_opts: dict[str, Any]
                                  ) -> tuple[dict[str, Any], str]:
        """The shim sets the container up while its network is plumbed; the runtime
        execs once the gate opens (``wharf.runtime.startgate``). Returns the launch's
        answer and the start time.

        The start is saved once, just before the gate opens: running, with its
        endpoints (in no other file) and start time; its pid only in memory, once
        known (a restore asks the shim). A daemon killed from then on finds the
        container running if its shim is, else its exit in ``exit.json``; a failed
        launch is saved again, with its error."""
        launch = self.launcher.launch(bundle, shim_opts, gate=True)
        try:
            await self.networks.attach(c)
            await self.networks.write_etc(c)
            started_at = rfc3339nano(time.time_ns())
            await self._save(c, durable=False, state={**_STARTED, "StartedAt": started_at})
        except BaseException:
            self.launcher.open_gate(bundle, False)
            await asyncio.gather(launch, return_exceptions=True)
            raise
        self.launcher.open_gate(bundle, True)
        return await launch, started_at

    def _link_env(self, c: Container) -> list[str]:
        """The legacy links' variables, on the default bridge only (as Docker): from each
        linked container running there now, for the init and every exec."""
        if c.host_config.get("NetworkMode") not in ("default", "bridge"):
            return []
        out = []
        for link in c.host_config.get("Links") or []:
            target, alias = links.parse(link)
            try:
                child = self.get(target)  # a name, or an ID as --link takes too
            except (NotFound, InvalidParameter):
                continue
            ip = (child.record["NetworkSettings"]["Networks"].get("bridge") or {}).get("IPAddress")
            if child.running and ip:
                out += links.env(f"/{c.name}/{alias}", ip, child.config)
        return out

    async def remove_link(self, name: str) -> None:
        """``DELETE /containers/{parent}/{alias}?link=1``: the parent loses the link,
        both containers stay (moby's rmLink)."""
        parent_name, _, alias = name.strip("/").rpartition("/")
        if not parent_name:
            raise Conflict("Conflict, cannot remove the default link name of the container")
        try:
            parent = self.get(parent_name)
        except NotFound:
            raise NotFound(f"No such container: {name}") from None
        async with parent.lock:
            kept = [link for link in parent.host_config.get("Links") or []
                    if links.parse(link)[1] != alias]
            if len(kept) == len(parent.host_config.get("Links") or []):
                raise NotFound(f"No such container: {name}")
            parent.host_config["Links"] = kept or None
            await self._save(parent, must=True)

    def _volumes_from(self, refs: list[str]) -> list[tuple[list[Any], str]]:
        """``VolumesFrom`` entries (``name[:ro|rw]``) as (that container's points, mode)."""
        out = []
        for ref in refs:
            name, _, mode = ref.partition(":")
            out.append((mount_points(self.get(name)), mode))
        return out

    def _namespace_owner(self, ref: str, kind: str) -> int:
        """Init pid of the running container whose ``kind`` namespace is to be joined."""
        other = self.get(ref)
        if not other.running:
            raise Conflict(f"cannot join {kind} of a non running container: {other.id}")
        return int(other.state["Pid"])

    def _watch(self, c: Container) -> None:
        c.monitor = asyncio.ensure_future(self._monitor(c))
        self.health.watch(c)

    async def _monitor(self, c: Container) -> None:
        result = await shims.wait(self.bundle(c))
        try:
            await self._handle_exit(c, result)
        except Exception:
            log.exception("handling the exit of %s", c.id)

    async def _handle_exit(self, c: Container, result: dict[str, Any]) -> None:
        async with c.lock:
            c.monitor = None
            self.health.stop(c)
            finished = result.get("finished_at")
            if result.get("log_dropped"):
                log.warning("container %s: %d log lines dropped: no space left on device",
                            c.id, result["log_dropped"])
            started_ns = parse_rfc3339(c.state["StartedAt"])
            c.state.update(Running=False, Paused=False, Restarting=False, Pid=0,
                           ExitCode=int(result.get("exit_code", 255)),
                           OOMKilled=bool(result.get("oom_killed")),
                           Error=result.get("error") or "",
                           FinishedAt=finished or rfc3339nano(time.time_ns()))
            try:
                await _both(cleanup_bundle(c, self.bundle(c), self.images, self.config),
                            self.networks.detach(c))
                await self.volumes.detach(c)
            except Exception:  # the exit is told all the same: nobody may wait forever
                log.exception("cleaning up after the exit of %s", c.id)
            if not c.host_config.get("AutoRemove"):  # else its record goes in a moment
                await self._save(c, durable=False)
            if c.state["OOMKilled"]:
                self.events.publish("container", "oom", c.id, c.event_attributes())
            self.events.publish("container", "die", c.id,
                                c.event_attributes(exitCode=c.state["ExitCode"]))
            c.notify("exit")
            ran = time.time() - started_ns / 1e9
        if c.host_config.get("AutoRemove"):
            self._spawn(self._auto_remove(c))
        else:
            self._maybe_restart(c, ran)

    async def _auto_remove(self, c: Container) -> None:
        await c.attaches_done(ATTACH_DRAIN)
        await self._remove_auto(c)

    async def _remove_auto(self, c: Container) -> None:
        """``--rm``: remove, and only log what stands in the way."""
        try:
            await self.remove(c.id, force=True, volumes=True)
        except NotFound:
            pass
        except WharfError as e:
            log.warning("auto-remove of %s: %s", c.id, e.message)

    def _maybe_restart(self, c: Container, ran: float) -> None:
        policy = RestartPolicy.of(c)
        delay = policy.next_delay(c, c.state["ExitCode"], ran)
        if delay is None:
            return
        c.state.update(Restarting=True, Running=True)
        c.restart_task = asyncio.ensure_future(self._restart_later(c, delay))

    async def _restart_later(self, c: Container, delay: float) -> None:
        await asyncio.sleep(delay)
        async with c.lock:
            c.restart_task = None
            if c.id not in self._by_id or not c.state.get("Restarting"):
                return
            c.record["RestartCount"] += 1
            try:
                await self._start_locked(c)
            except WharfError as e:
                log.warning("restart of %s failed: %s", c.id, e.message)
                c.state.update(Restarting=False, Running=False)
                await self._save(c)
                c.notify("exit")

    def _cancel_restart(self, c: Container) -> bool:
        """Stop a pending policy restart; True if there was one."""
        if c.restart_task is None:
            return False
        c.restart_task.cancel()
        c.restart_task = None
        c.state.update(Restarting=False, Running=False)
        return True

    # -- signals, stop, restart ----------------------------------------------
    def _signal(self, c: Container, sig: int) -> None:
        """Signal the container's init if it still runs. A stopped container's Pid is 0,
        and ``kill(0, sig)`` would signal wharfd's own process group: a ``stop`` whose
        timeout ended as the container exited killed the daemon that way."""
        pid = int(c.state.get("Pid") or 0)
        if pid <= 0 or not c.state["Running"]:
            return
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            pass

    async def kill(self, ref: str, signal: str | None = None) -> None:
        """With SIGKILL the answer comes once the container is dead (moby's
        ``daemon.Kill``): an inspect right after says Running=false and the exit code."""
        c = self.get(ref)
        sig = parse_signal(signal)
        async with c.lock:
            if not c.running:
                raise Conflict(f"Cannot kill container: {ref}: Container {c.id} is not running")
            c.private["ManuallyStopped"] = True
            await self._save(c)
            exited = c.waiter("exit")
            self.events.publish("container", "kill", c.id, c.event_attributes(signal=sig))
            self._signal(c, sig)
            if c.state["Paused"] and sig == signals.SIGKILL:
                await self._thaw(c)
        if sig == signals.SIGKILL and c.state["Running"] and not c.state.get("Restarting"):
            await exited
        else:
            exited.cancel()

    async def stop(self, ref: str, timeout: int | None = None, signal: str | None = None) -> None:
        c = self.get(ref)
        async with c.lock:
            if self._cancel_restart(c):
                c.private["ManuallyStopped"] = True
                await self._save(c)
                return
            if not c.running:
                raise NotModified("container already stopped")
            c.private["ManuallyStopped"] = True
            await self._save(c)
            sig = parse_signal(signal or c.config.get("StopSignal"), signals.SIGTERM)
            exited = c.waiter("exit")
            self.events.publish("container", "kill", c.id, c.event_attributes(signal=sig))
            self._signal(c, sig)
            if c.state["Paused"]:
                await self._thaw(c)
        if timeout is None:
            timeout = c.config.get("StopTimeout") or DEFAULT_STOP_TIMEOUT
        try:
            await asyncio.wait_for(asyncio.shield(exited), None if timeout < 0 else timeout)
        except asyncio.TimeoutError:
            async with c.lock:  # not a later run's init (a racing restart's)
                if not exited.done():
                    self.events.publish("container", "kill", c.id,
                                        c.event_attributes(signal=int(signals.SIGKILL)))
                    self._signal(c, signals.SIGKILL)
            await exited
        self.events.publish("container", "stop", c.id, c.event_attributes())

    async def restart(self, ref: str, timeout: int | None = None, signal: str | None = None) -> None:
        c = self.get(ref)
        try:
            await self.stop(c.id, timeout, signal)
        except NotModified:
            pass
        async with c.lock:
            if not c.running:
                c.private["ManuallyStopped"] = False
                await self._start_locked(c)
        self.events.publish("container", "restart", c.id, c.event_attributes())

    # -- update --------------------------------------------------------------
    async def update(self, ref: str, body: Any) -> dict[str, Any]:
        """``POST /containers/{id}/update`` (``wharf.engine.update``): recorded, and applied
        to the cgroup of a running container; a refused limit changes nothing."""
        c = self.get(ref)
        changes, warnings = containerupdate.request(body, self.config)
        async with c.lock:
            if c.state.get("RemovalInProgress") or c.state.get("Dead"):
                raise Conflict(f"Cannot update container {c.id}: container is marked for "
                               'removal and cannot be "update"')
            hc = containerupdate.merged(c.id, c.host_config, changes)
            path = self.cgroups_path(c)
            if not path:  # rootless without cgroups: as limits at create
                warnings.append(NO_CGROUP_LIMITS)
            elif c.state["Running"] and not c.state.get("Restarting"):
                await asyncio.to_thread(containerupdate.apply, c.id, path, hc, changes)
            c.record["HostConfig"] = hc
            await self._save(c)
        self.events.publish("container", "update", c.id, c.event_attributes())
        return {"Warnings": warnings}

    # -- pause ---------------------------------------------------------------
    def cgroups_path(self, c: Container) -> str:
        return cgroups_path(c, self.config)

    async def _cgroup(self, c: Container) -> Any:
        return await asyncio.to_thread(cgroups.open, self.cgroups_path(c))

    async def _thaw(self, c: Container) -> None:
        try:
            await asyncio.to_thread((await self._cgroup(c)).thaw)
        except OSError as e:  # the cgroup went with an exit not handled yet: nothing is frozen
            if e.errno not in _CGROUP_GONE:
                raise
        c.state["Paused"] = False
        await self._save(c)

    async def pause(self, ref: str) -> None:
        c = self.get(ref)
        async with c.lock:
            if not c.running:
                raise Conflict(f"Container {c.id} is not running")
            if c.state["Paused"]:
                raise Conflict(f"Container {c.id} is already paused")
            if not self.cgroups_path(c):
                raise Conflict(f"Cannot pause container {c.id}: a rootless daemon has no "
                               "cgroups to freeze it with")
            try:
                await asyncio.to_thread((await self._cgroup(c)).freeze)
            except OSError as e:  # its cgroup went with its exit, not yet handled here
                if e.errno not in _CGROUP_GONE:
                    raise
                raise Conflict(f"Container {c.id} is not running") from None
            c.state["Paused"] = True
            await self._save(c)
            self.events.publish("container", "pause", c.id, c.event_attributes())

    async def unpause(self, ref: str) -> None:
        c = self.get(ref)
        async with c.lock:
            if not c.state["Paused"]:
                raise Conflict(f"Container {c.id} is not paused")
            await self._thaw(c)
            self.events.publish("container", "unpause", c.id, c.event_attributes())

    # -- wait ------------------------------------------------------------------
    async def wait(self, ref: str, condition: str = "not-running") -> dict[str, Any]:
        if condition not in WAIT_CONDITIONS:
            raise InvalidParameter(f"invalid condition: {condition!r}")
        c = self.get(ref)
        if condition == "removed":
            return await c.waiter("removed")
        if condition in ("not-running", "") and not c.state["Running"]:
            return c.exit_result()
        return await c.waiter("exit")

    # -- remove / rename -------------------------------------------------------
    async def remove(self, ref: str, force: bool = False, volumes: bool = False) -> None:
        c = self.get(ref)
        while True:  # again if a policy restart took the lock first: that run is killed too
            if c.state["Running"] and not force:  # restarting too, as moby's IsRunning
                raise _cannot_remove(c)
            if c.state["Running"] and not c.state.get("Restarting"):
                await self._kill_for_removal(c)
            async with c.lock:
                if c.id not in self._by_id:
                    raise NotFound(f"No such container: {ref}")
                if c.state["Running"] and not force:
                    raise _cannot_remove(c)
                self._cancel_restart(c)
                if c.running:
                    continue
                await self._remove_locked(c, volumes)
                break

    async def _kill_for_removal(self, c: Container) -> None:
        """SIGKILL for ``rm -f``, marked as a manual stop so no restart policy revives it."""
        exited = c.waiter("exit")
        async with c.lock:
            if c.running:
                c.private["ManuallyStopped"] = True
                self.events.publish("container", "kill", c.id,
                                    c.event_attributes(signal=int(signals.SIGKILL)))
                self._signal(c, signals.SIGKILL)
                if c.state["Paused"]:
                    await self._thaw(c)
        if c.state["Running"]:
            await exited

    async def _remove_locked(self, c: Container, volumes: bool = False) -> None:
        """Out of the store, then (``volumes``: ``rm -v``, ``--rm``) its anonymous volumes,
        and only then the destroy event and the "removed" waiters, as moby's
        cleanupContainer: ``run --rm`` returns with its volumes gone."""
        c.state["RemovalInProgress"] = True
        try:
            if os.path.lexists(self.bundle(c)):  # else the exit (or a failed start) cleaned up
                await cleanup_bundle(c, self.bundle(c), self.images, self.config)
            trashed = await asyncio.to_thread(self._to_trash, c)
        except BaseException:
            c.state.pop("RemovalInProgress", None)
            raise
        del self._by_id[c.id]
        self._names.pop(c.name, None)
        if volumes:
            try:
                await self.volumes.remove_anonymous(mount_points(c))
            except Exception as e:  # noqa: BLE001 - the container is gone all the same (moby logs it)
                log.warning("container %s: removing its anonymous volumes: %s", c.id, e)
        self.events.publish("container", "destroy", c.id, c.event_attributes())
        c.notify("exit", "start", "removed")
        self._spawn(self._purge(c.id, c.record["Image"], trashed))

    def _to_trash(self, c: Container) -> str:
        """Take the container's directory out of the store at once (a rename into the
        trash, which ``restore`` makes): the record is gone for any restart from here,
        and the deleting happens after the answer (``_purge``). Neither needs free
        space: should the rename be refused (no trash, a full directory block), the
        record file goes instead, and the directory is deleted where it is (a
        directory with no record is a removal that ``restore`` finishes)."""
        target = os.path.join(self.config.containers_dir, TRASH, c.id)
        try:
            os.rename(c.dir, target)
            return target
        except OSError as e:
            if not (disk_full(e) or e.errno == errno.ENOENT):
                raise
        try:
            os.unlink(c.record_path)
        except FileNotFoundError:
            pass
        return c.dir

    async def _purge(self, cid: str, image_id: str | None, trashed: str | None) -> None:
        """Delete a removed container's rw layer and its trashed directory (if any)."""
        await self.images.remove_rw_layer(cid, image_id)
        if trashed is not None:
            await asyncio.to_thread(shutil.rmtree, trashed, True)

    async def prune(self, filters: flt.Filters | None = None) -> dict[str, Any]:
        """``docker container prune``: every stopped container (label/until filters)."""
        f = filters or {}
        until = flt.until_ns(f)
        deleted, reclaimed = [], 0
        for c in self.all():
            if c.state["Running"] or until is not None and _created(c) > until:
                continue
            if not flt.prune_labels(c.config.get("Labels") or {}, f):
                continue
            size = await self.images.rw_layer_size(c.id)
            try:
                await self.remove(c.id)
            except (NotFound, Conflict):
                continue
            deleted.append(c.id)
            reclaimed += size
        self.events.publish("container", "prune", "", {"reclaimed": str(reclaimed)})
        return {"ContainersDeleted": deleted or None, "SpaceReclaimed": reclaimed}

    async def rename(self, ref: str, new_name: str) -> None:
        if not new_name:
            raise InvalidParameter("Neither old nor new names may be empty")
        c = self.get(ref)
        new = names.validate_name(new_name)
        async with c.lock:
            old = c.name
            if new == old:
                raise InvalidParameter("Renaming a container with the same name as its current "
                                       "name")
            if new in self._names:
                raise Conflict(f'Conflict. The container name "/{new}" is already in use by '
                               f'container "{self._names[new]}". You have to remove (or '
                               "rename) that container to be able to reuse that name.")
            self._names[new] = c.id
            del self._names[old]
            c.record["Name"] = "/" + new
            try:
                await self._save(c, must=True)
            except BaseException:  # a full disk: the old name stays
                c.record["Name"] = "/" + old
                self._names[old] = self._names.pop(new)
                raise
            self.networks.renamed(c)
            self.events.publish("container", "rename", c.id,
                                c.event_attributes(oldName="/" + old))

    # -- boot and live restore ---------------------------------------------------
    async def restore(self) -> None:
        """Read every record; reattach to live shims, settle dead ones, apply policies.
        Needs no free space: a full disk still starts (what cannot be saved is logged),
        and a broken record is listed as a dead container instead of stopping the start."""
        await self.launcher.start()
        trash = os.path.join(self.config.containers_dir, TRASH)
        await asyncio.to_thread(_make_trash, trash)
        leftovers = [(cid, os.path.join(trash, cid)) for cid in  # removals a crash cut short
                     await asyncio.to_thread(lambda: os.listdir(trash) if os.path.isdir(trash) else [])]
        records, unfinished = await asyncio.to_thread(self._read_records)
        # no record: a create or a removal cut short
        leftovers += [(os.path.basename(directory), directory) for directory in unfinished]
        for directory, record in sorted(records, key=lambda r: bool(r[1].get(PRIVATE, {}).get("Broken"))):
            c = Container(record, directory)
            self._by_id[c.id] = c
            if c.name in self._names:  # a broken record's name is a guess: healthy ones first
                c.record["Name"] = "/" + c.id
            self._names[c.name] = c.id
        # a rw layer with no container: its record went, a crash kept the layer
        seen = set(self._by_id) | {cid for cid, _ in leftovers}
        leftovers += [(cid, None) for cid in await self.images.rw_layer_ids()
                      if names.is_container_id(cid) and cid not in seen]
        for cid, directory in leftovers:
            try:
                await self._purge(cid, None, directory)
            except Exception:  # never a reason not to start
                log.exception("removing what is left of container %s", cid)
        for c in list(self._by_id.values()):
            try:
                await self._restore_one(c)
            except Exception:
                log.exception("restoring %s", c.id)

    def _read_records(self) -> tuple[list[tuple[str, dict[str, Any]]], list[str]]:
        """(directory, record) of every container, and the directories that hold no
        record. A record that is not JSON is logged and stands in as a dead one."""
        out, unfinished = [], []
        root = self.config.containers_dir
        for cid in os.listdir(root) if os.path.isdir(root) else []:
            directory = os.path.join(root, cid)
            if cid == TRASH or not names.is_container_id(cid) or not os.path.isdir(directory):
                continue
            path = os.path.join(directory, "config.v2.json")
            try:
                with open(path, "rb") as f:
                    text = f.read().decode(errors="replace")
            except FileNotFoundError:
                unfinished.append(directory)
                continue
            try:
                record = json.loads(text)
                if not isinstance(record, dict) or record.get("Id") != cid or \
                        not all(key in record for key in _RECORD_KEYS):
                    raise ValueError("not a container record")
            except ValueError as e:
                log.error("container %s: broken record %s (%s): listed as dead", cid, path, e)
                created = rfc3339nano(os.stat(path).st_mtime_ns)
                record = {**dead_record(cid, text, created, f"broken record: {e}"),
                          "Driver": self.config.storage_driver}
            out.append((directory, record))
        return out, unfinished

    async def _restore_one(self, c: Container) -> None:
        bundle = self.bundle(c)
        c.state.pop("RemovalInProgress", None)
        if c.private.get("Broken"):  # nothing to restore: leave its bundle for rm -f
            return
        was_running = c.state["Running"] and not c.state.get("Restarting")
        shim = await shims.state(bundle)
        if shim is not None:
            c.state["Pid"] = int(shim["pid"])  # a start saves none (``_launch_behind_gate``)
            if not was_running:  # the daemon died between the launch and the record
                c.state.update(_STARTED, StartedAt=rfc3339nano(time.time_ns()))
                await self._save(c)
            log.info("reattached to %s", c.id)
            await self.networks.restore_container(c)
            self._watch(c)
            return
        if was_running:
            await self._handle_exit(c, await asyncio.to_thread(shims.exit_file, bundle))
            return
        c.state.update(Restarting=False, Running=False)
        if await asyncio.to_thread(os.path.isdir, bundle):  # a start cut short
            await cleanup_bundle(c, bundle, self.images, self.config)
        if c.host_config.get("AutoRemove"):  # Docker's boot rule for --rm containers
            await self._auto_remove(c)
            return
        if RestartPolicy.of(c).on_boot(c):
            async with c.lock:
                await self._start_locked(c)

    async def stop_all(self, timeout: int) -> None:
        """Daemon shutdown without live restore: stop every running container at once,
        each killed after ``timeout`` seconds (-1: its own stop timeout)."""
        running = [c.id for c in self._by_id.values() if c.running]
        outcomes = await asyncio.gather(*(self.stop(cid, None if timeout < 0 else timeout)
                                          for cid in running), return_exceptions=True)
        for cid, outcome in zip(running, outcomes):
            if isinstance(outcome, Exception) and not isinstance(outcome, NotModified):
                log.warning("stopping %s at shutdown: %s", cid, outcome)

    async def close(self) -> None:
        """Daemon shutdown: stop watching; the containers keep running."""
        tasks = [c.monitor for c in self._by_id.values() if c.monitor]
        tasks += [c.restart_task for c in self._by_id.values() if c.restart_task]
        tasks += list(self._background)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await self.launcher.close()


async def _both(first: Awaitable[Any], second: Awaitable[Any]) -> Any:
    """Run two independent steps at once; both have ended (so a cleanup after a failure
    never races the other) before the first error, if any, is raised. Returns the
    first's result."""
    outcomes = await asyncio.gather(first, second, return_exceptions=True)
    for outcome in outcomes:
        if isinstance(outcome, BaseException):
            raise outcome
    return outcomes[0]


def _cannot_remove(c: Container) -> Conflict:
    """moby's delete.go words: the state ("running", "restarting", "paused") named."""
    state = state_word(c.state)
    procedure = "Stop the container before attempting removal or force remove"
    if state == "paused":
        procedure = "Unpause and then " + procedure.lower()
    return Conflict(f"You cannot remove a {state} container {c.id}. {procedure}")


def _make_trash(trash: str) -> None:
    """The trash is made at start, while there may be space: a removal on a full disk
    renames into it (``_to_trash``)."""
    try:
        os.makedirs(trash, 0o700, exist_ok=True)
    except OSError as e:
        if not disk_full(e):
            raise
        log.warning("cannot make %s: %s", trash, os.strerror(e.errno))


def _on_network(c: Container, wanted: list[str]) -> bool:
    """``ps --filter network=``: a network name, or a prefix of its ID."""
    nets = c.record["NetworkSettings"].get("Networks") or {}
    return any(v in nets or any((ep.get("NetworkID") or "").startswith(v) for ep in nets.values())
               for v in wanted)


def _created(c: Container) -> int:
    return parse_rfc3339(c.record["Created"])


def _merge_image_config(config: dict[str, Any], img: dict[str, Any], cid: str,
                        cmd: list[str] | None, entrypoint: list[str] | None) -> dict[str, Any]:
    """Docker's merge: image defaults under what the create body says."""
    env = list(img.get("Env") or [])
    keys = {e.split("=", 1)[0]: i for i, e in enumerate(env)}
    for item in config.get("Env") or []:
        key = item.split("=", 1)[0]
        if key in keys:
            env[keys[key]] = item
        else:
            keys[key] = len(env)
            env.append(item)
    labels = dict(img.get("Labels") or {})
    labels.update(config.get("Labels") or {})
    exposed = dict(img.get("ExposedPorts") or {})
    exposed.update(config.get("ExposedPorts") or {})
    return {
        "Hostname": config.get("Hostname") or cid[:12],
        "Domainname": config.get("Domainname") or "",
        "User": config.get("User") or img.get("User") or "",
        "AttachStdin": bool(config.get("AttachStdin")),
        "AttachStdout": bool(config.get("AttachStdout")),
        "AttachStderr": bool(config.get("AttachStderr")),
        **({"ExposedPorts": exposed} if exposed else {}),
        "Tty": bool(config.get("Tty")), "OpenStdin": bool(config.get("OpenStdin")),
        "StdinOnce": bool(config.get("StdinOnce")), "Env": env, "Cmd": cmd,
        "Image": config["Image"],
        "Volumes": config.get("Volumes") or img.get("Volumes"),
        "WorkingDir": config.get("WorkingDir") or img.get("WorkingDir") or "",
        "Entrypoint": entrypoint, "OnBuild": config.get("OnBuild") or img.get("OnBuild"),
        "Labels": labels,
        **({"StopSignal": config.get("StopSignal") or img.get("StopSignal")}
           if config.get("StopSignal") or img.get("StopSignal") else {}),
        **({"StopTimeout": config["StopTimeout"]} if config.get("StopTimeout") is not None else {}),
        **({"Healthcheck": check} if (check := health.merged(config.get("Healthcheck"), img.get("Healthcheck"))) else {}),
        **({"Shell": img["Shell"]} if img.get("Shell") else {}),
        # the MAC of the first endpoint (API < 1.44 puts it here); omitted when unset, as Go's
        **({"MacAddress": config["MacAddress"]} if config.get("MacAddress") else {}),
    }


def _host_config_defaults(hc: dict[str, Any], config: DaemonConfig) -> dict[str, Any]:
    out = copy.deepcopy(hc)
    out.setdefault("NetworkMode", "default")
    out["NetworkMode"] = out["NetworkMode"] or "default"
    out.setdefault("RestartPolicy", {"Name": "no", "MaximumRetryCount": 0})
    out["RestartPolicy"]["Name"] = out["RestartPolicy"].get("Name") or "no"
    out["RestartPolicy"].setdefault("MaximumRetryCount", 0)
    out.setdefault("Runtime", config.default_runtime)
    out["Runtime"] = out["Runtime"] or config.default_runtime
    for key in ("Binds", "CapAdd", "CapDrop", "Dns", "DnsOptions", "DnsSearch", "ExtraHosts",
                "Links", "SecurityOpt", "VolumesFrom"):
        out.setdefault(key, None)
    for key in ("Memory", "MemoryReservation", "MemorySwap", "CpuShares", "CpuPeriod",
                "CpuQuota", "NanoCpus", "BlkioWeight"):
        out.setdefault(key, 0)
    out["ShmSize"] = out.get("ShmSize") or config.default_shm_size
    if out["Memory"] > 0 and not out["MemorySwap"]:
        out["MemorySwap"] = 2 * out["Memory"]  # dockerd's default: as much swap as memory
    out.setdefault("CpusetCpus", "")
    out.setdefault("CpusetMems", "")
    out.setdefault("PidsLimit", None)
    out.setdefault("Privileged", False)
    out.setdefault("ReadonlyRootfs", False)
    out.setdefault("AutoRemove", False)
    out.setdefault("PortBindings", {})
    out.setdefault("IpcMode", "private")
    out.setdefault("PidMode", "")
    out.setdefault("CgroupParent", "")
    out.setdefault("Init", None)
    return out


def _network_settings(hc: dict[str, Any]) -> dict[str, Any]:
    return {"Bridge": "", "SandboxID": "", "HairpinMode": False, "LinkLocalIPv6Address": "",
            "LinkLocalIPv6PrefixLen": 0, "Ports": {}, "SandboxKey": "",
            "SecondaryIPAddresses": None, "SecondaryIPv6Addresses": None, "EndpointID": "",
            "Gateway": "", "GlobalIPv6Address": "", "GlobalIPv6PrefixLen": 0, "IPAddress": "",
            "IPPrefixLen": 0, "IPv6Gateway": "", "MacAddress": "", "Networks": {}}
