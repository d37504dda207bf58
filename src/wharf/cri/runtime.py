"""CRI's RuntimeService over the engine: pods, containers, exec, port forward, status.

Every CRI object is an engine container (``wharf.cri.specs``, ``labels``):
this service keeps no state of its own but the log copiers of running
containers (``wharf.cri.crilog``), which it starts again at daemon start.
Stop and remove of what is gone succeed (the CRI's idempotence rules).
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from typing import Any

import wharf
from wharf.cri import cni, crilog, specs
from wharf.cri import labels as lbl
from wharf.cri.errors import answering
from wharf.cri.pb import api_pb2 as pb
from wharf.cri.pb import api_pb2_grpc as rpc
from wharf.cri.streaming import StreamServer
from wharf.engine import hostinfo, observe
from wharf.engine.container import Container, state_word
from wharf.engine.core import Engine
from wharf.engine.timefmt import parse_rfc3339
from wharf.engine.volumes import mount_points
from wharf.errors import Conflict, InvalidParameter, NotFound, NotModified, WharfError
from wharf.threads import in_own_thread

log = logging.getLogger("wharf.cri")
EXEC_OUTPUT_MAX = 16 * 1024 * 1024  # per stream, as the CRI asks (CVE-2022-1708)
_CONTAINER_STATES = {"created": pb.CONTAINER_CREATED, "running": pb.CONTAINER_RUNNING,
                     "exited": pb.CONTAINER_EXITED, "dead": pb.CONTAINER_EXITED}


class RuntimeService(rpc.RuntimeServiceServicer):
    def __init__(self, engine: Engine, pull: Any, streams: StreamServer) -> None:
        self.engine = engine
        self.streams = streams
        config = engine.config
        self.cni = cni.Network(config.cni_conf_dir, config.cni_bin_dir,
                               os.path.join(config.exec_root, "cri", "cni"))
        self.containers = engine.containers
        #: ``pull(ref)``: the image service's pull, for a missing infra image
        self.pull = pull
        self._copiers: dict[str, asyncio.Future[None]] = {}
        self._jobs: dict[str, crilog.Copier] = {}

    # -- lookups -------------------------------------------------------------
    def _find(self, ref: str, kind: str) -> Container:
        """A CRI object by ID or unique prefix (NotFound for one of the other kind)."""
        c = self.containers.get(ref) if ref else None
        if c is None or _labels(c).get(lbl.KIND) != kind:
            raise NotFound(f"{'pod sandbox' if kind == lbl.SANDBOX_KIND else 'container'} "
                           f'"{ref}" not found')
        return c

    def _lookup(self, ref: str, kind: str) -> Container | None:
        """``_find``, or None for what is gone (stop and remove of it succeed)."""
        try:
            return self._find(ref, kind)
        except NotFound:
            return None

    def _all(self, kind: str) -> list[Container]:
        return [c for c in self.containers.all() if _labels(c).get(lbl.KIND) == kind]

    def _pod_containers(self, sandbox_id: str) -> list[Container]:
        return [c for c in self._all(lbl.CONTAINER_KIND) if _labels(c).get(lbl.SANDBOX) == sandbox_id]

    # -- runtime -------------------------------------------------------------
    @answering
    async def Version(self, request: pb.VersionRequest, context: Any) -> pb.VersionResponse:
        return pb.VersionResponse(version="0.1.0", runtime_name="wharf",
                                  runtime_version=wharf.__version__,
                                  runtime_api_version="v1")

    @answering
    async def Status(self, request: pb.StatusRequest, context: Any) -> pb.StatusResponse:
        ready = [pb.RuntimeCondition(type="RuntimeReady", status=True),
                 pb.RuntimeCondition(type="NetworkReady", status=True)]
        features = pb.RuntimeHandlerFeatures(
            recursive_read_only_mounts=hostinfo.recursive_read_only_mounts(),
            user_namespaces=True)  # pods' (``specs.id_mapping``; wharf.runtime.userns)
        return pb.StatusResponse(status=pb.RuntimeStatus(conditions=ready),
                                 runtime_handlers=[pb.RuntimeHandler(name="", features=features)])

    @answering
    async def RuntimeConfig(self, request: pb.RuntimeConfigRequest,
                            context: Any) -> pb.RuntimeConfigResponse:
        """wharf writes cgroups itself (cgroupfs), never through systemd."""
        return pb.RuntimeConfigResponse(
            linux=pb.LinuxRuntimeConfiguration(cgroup_driver=pb.CGROUPFS))

    @answering
    async def UpdateRuntimeConfig(self, request: pb.UpdateRuntimeConfigRequest,
                                  context: Any) -> pb.UpdateRuntimeConfigResponse:
        return pb.UpdateRuntimeConfigResponse()

    # -- pods ----------------------------------------------------------------
    @answering
    async def RunPodSandbox(self, request: pb.RunPodSandboxRequest,
                            context: Any) -> pb.RunPodSandboxResponse:
        if request.runtime_handler:
            raise InvalidParameter(f"no runtime for {request.runtime_handler!r} is configured")
        image = self.engine.config.pod_infra_image
        try:
            await self.engine.images.get(image)
        except NotFound:
            await self.pull(image)
        host_net = (request.config.linux.security_context.namespace_options.network == pb.NODE)
        cni = not host_net and await asyncio.to_thread(self.cni.enabled)
        body = specs.sandbox_body(request.config, image, cni)
        created = await self.containers.create(body, specs.sandbox_name(request.config))
        sid = created["Id"]
        try:
            await self.containers.start(sid)
            if cni:
                netns = self.containers.get(sid).record["NetworkSettings"]["SandboxKey"]
                await asyncio.to_thread(self.cni.add, sid, netns,
                                        specs.port_mappings(request.config))
        except BaseException:
            await self.containers.remove(sid, force=True)
            raise
        return pb.RunPodSandboxResponse(pod_sandbox_id=sid)

    @answering
    async def StopPodSandbox(self, request: pb.StopPodSandboxRequest,
                             context: Any) -> pb.StopPodSandboxResponse:
        sandbox = self._lookup(request.pod_sandbox_id, lbl.SANDBOX_KIND)
        if sandbox is None:
            return pb.StopPodSandboxResponse()
        for c in self._pod_containers(sandbox.id):
            await self._stop(c.id, 0)
        await asyncio.to_thread(self.cni.delete, sandbox.id)
        await self._stop(sandbox.id, 0)
        return pb.StopPodSandboxResponse()

    @answering
    async def RemovePodSandbox(self, request: pb.RemovePodSandboxRequest,
                               context: Any) -> pb.RemovePodSandboxResponse:
        sandbox = self._lookup(request.pod_sandbox_id, lbl.SANDBOX_KIND)
        if sandbox is None:
            return pb.RemovePodSandboxResponse()
        for c in self._pod_containers(sandbox.id):
            await self._remove(c.id)
        await asyncio.to_thread(self.cni.delete, sandbox.id)
        await self._remove(sandbox.id)
        return pb.RemovePodSandboxResponse()

    @answering
    async def PodSandboxStatus(self, request: pb.PodSandboxStatusRequest,
                               context: Any) -> pb.PodSandboxStatusResponse:
        c = self._find(request.pod_sandbox_id, lbl.SANDBOX_KIND)
        hc = c.host_config
        ns = pb.NamespaceOption(
            network=pb.NODE if hc.get("NetworkMode") == "host" else pb.POD,
            ipc=pb.NODE if hc.get("IpcMode") == "host" else pb.POD,
            pid=pb.NODE if hc.get("PidMode") == "host" else pb.CONTAINER)
        networks = c.record.get("NetworkSettings", {}).get("Networks") or {}
        ip = await asyncio.to_thread(self.cni.ip, c.id) or next(
            (n.get("IPAddress") for n in networks.values() if n.get("IPAddress")), "")
        status = pb.PodSandboxStatus(
            id=c.id, metadata=pb.PodSandboxMetadata(**lbl.metadata(_labels(c))),
            state=_sandbox_state(c), created_at=parse_rfc3339(c.record["Created"]),
            network=pb.PodSandboxNetworkStatus(ip=ip),
            linux=pb.LinuxPodSandboxStatus(namespaces=pb.Namespace(options=ns)),
            labels=lbl.user_labels(_labels(c)), annotations=lbl.annotations(_labels(c)))
        return pb.PodSandboxStatusResponse(status=status)

    @answering
    async def ListPodSandbox(self, request: pb.ListPodSandboxRequest,
                             context: Any) -> pb.ListPodSandboxResponse:
        f = request.filter
        items = []
        for c in self._all(lbl.SANDBOX_KIND):
            state = _sandbox_state(c)
            if f.id and not c.id.startswith(f.id):
                continue
            if f.HasField("state") and f.state.state != state:
                continue
            if not _selected(_labels(c), f.label_selector):
                continue
            items.append(pb.PodSandbox(
                id=c.id, metadata=pb.PodSandboxMetadata(**lbl.metadata(_labels(c))), state=state,
                created_at=parse_rfc3339(c.record["Created"]),
                labels=lbl.user_labels(_labels(c)), annotations=lbl.annotations(_labels(c))))
        return pb.ListPodSandboxResponse(items=items)

    # -- containers ----------------------------------------------------------
    @answering
    async def CreateContainer(self, request: pb.CreateContainerRequest,
                              context: Any) -> pb.CreateContainerResponse:
        sandbox = self._find(request.pod_sandbox_id, lbl.SANDBOX_KIND)
        meta = pb.PodSandboxMetadata(**lbl.metadata(_labels(sandbox)))
        body = specs.container_body(request.config, sandbox.id, sandbox.host_config,
                                    _labels(sandbox))
        created = await self.containers.create(body, specs.container_name(request.config, meta))
        return pb.CreateContainerResponse(container_id=created["Id"])

    @answering
    async def StartContainer(self, request: pb.StartContainerRequest,
                             context: Any) -> pb.StartContainerResponse:
        c = self._find(request.container_id, lbl.CONTAINER_KIND)
        await self.containers.start(c.id)
        await self._copy_log(c, since_ns=None)
        return pb.StartContainerResponse()

    @answering
    async def StopContainer(self, request: pb.StopContainerRequest,
                            context: Any) -> pb.StopContainerResponse:
        c = self._lookup(request.container_id, lbl.CONTAINER_KIND)
        if c is None:
            return pb.StopContainerResponse()
        await self._stop(c.id, request.timeout)
        return pb.StopContainerResponse()

    @answering
    async def RemoveContainer(self, request: pb.RemoveContainerRequest,
                              context: Any) -> pb.RemoveContainerResponse:
        c = self._lookup(request.container_id, lbl.CONTAINER_KIND)
        if c is None:
            return pb.RemoveContainerResponse()
        await self._remove(c.id)
        return pb.RemoveContainerResponse()

    @answering
    async def ListContainers(self, request: pb.ListContainersRequest,
                             context: Any) -> pb.ListContainersResponse:
        f = request.filter
        out = []
        for c in self._all(lbl.CONTAINER_KIND):
            labels = _labels(c)
            state = _CONTAINER_STATES.get(state_word(c.state), pb.CONTAINER_UNKNOWN)
            if f.id and not c.id.startswith(f.id):
                continue
            if f.pod_sandbox_id and not labels.get(lbl.SANDBOX, "").startswith(f.pod_sandbox_id):
                continue
            if f.HasField("state") and f.state.state != state:
                continue
            if not _selected(labels, f.label_selector):
                continue
            out.append(pb.Container(
                id=c.id, pod_sandbox_id=labels.get(lbl.SANDBOX, ""),
                metadata=pb.ContainerMetadata(**lbl.metadata(labels)),
                image=pb.ImageSpec(image=c.config.get("Image", "")), image_ref=c.record["Image"],
                image_id=c.record["Image"], state=state,
                created_at=parse_rfc3339(c.record["Created"]),
                labels=lbl.user_labels(labels), annotations=lbl.annotations(labels)))
        return pb.ListContainersResponse(containers=out)

    @answering
    async def ContainerStatus(self, request: pb.ContainerStatusRequest,
                              context: Any) -> pb.ContainerStatusResponse:
        c = self._find(request.container_id, lbl.CONTAINER_KIND)
        copier = self._copiers.get(c.id)
        if copier is not None and not c.running:
            await asyncio.shield(copier)  # the whole log is there when the status says exited
        labels, state = _labels(c), c.state
        word = state_word(state)
        reason = ""
        if word in ("exited", "dead"):
            reason = ("OOMKilled" if state.get("OOMKilled")
                      else "Completed" if state.get("ExitCode") == 0 else "Error")
        status = pb.ContainerStatus(
            id=c.id, metadata=pb.ContainerMetadata(**lbl.metadata(labels)),
            state=_CONTAINER_STATES.get(word, pb.CONTAINER_UNKNOWN),
            created_at=parse_rfc3339(c.record["Created"]),
            started_at=parse_rfc3339(state.get("StartedAt") or ""),
            finished_at=parse_rfc3339(state.get("FinishedAt") or ""),
            exit_code=int(state.get("ExitCode") or 0),
            image=pb.ImageSpec(image=c.config.get("Image", "")), image_ref=c.record["Image"],
            image_id=c.record["Image"], reason=reason, message=state.get("Error") or "",
            labels=lbl.user_labels(labels), annotations=lbl.annotations(labels),
            mounts=[specs.status_mount(p) for p in mount_points(c)],
            log_path=labels.get(lbl.LOG_PATH, ""))
        return pb.ContainerStatusResponse(status=status)

    @answering
    async def ContainerStats(self, request: pb.ContainerStatsRequest,
                             context: Any) -> pb.ContainerStatsResponse:
        c = self._find(request.container_id, lbl.CONTAINER_KIND)
        return pb.ContainerStatsResponse(stats=await self._stats(c))

    @answering
    async def ListContainerStats(self, request: pb.ListContainerStatsRequest,
                                 context: Any) -> pb.ListContainerStatsResponse:
        f = request.filter
        chosen = [c for c in self._all(lbl.CONTAINER_KIND)
                  if c.id.startswith(f.id)
                  and _labels(c).get(lbl.SANDBOX, "").startswith(f.pod_sandbox_id)
                  and _selected(_labels(c), f.label_selector)]
        return pb.ListContainerStatsResponse(stats=[await self._stats(c) for c in chosen])

    async def _stats(self, c: Container) -> pb.ContainerStats:
        """CPU and memory from the container's cgroup (none while it is not running),
        its writable layer's size."""
        labels = _labels(c)
        now = time.time_ns()
        out = pb.ContainerStats(attributes=pb.ContainerAttributes(
            id=c.id, metadata=pb.ContainerMetadata(**lbl.metadata(labels)),
            labels=lbl.user_labels(labels), annotations=lbl.annotations(labels)))
        out.cpu.timestamp = out.memory.timestamp = out.writable_layer.timestamp = now
        out.writable_layer.fs_id.mountpoint = self.engine.config.image_dir
        out.writable_layer.used_bytes.value = await self.engine.images.rw_layer_size(c.id)
        if c.running:
            sample = await anext(observe.stats(c, self.containers.cgroups_path(c), stream=False,
                                               one_shot=True))
            memory = sample["memory_stats"]
            kinds = memory.get("stats") or {}
            inactive = kinds.get("total_inactive_file", kinds.get("inactive_file", 0))
            out.cpu.usage_core_nano_seconds.value = sample["cpu_stats"]["cpu_usage"]["total_usage"]
            out.memory.usage_bytes.value = memory.get("usage", 0)
            out.memory.working_set_bytes.value = max(memory.get("usage", 0) - inactive, 0)
        return out

    @answering
    async def Exec(self, request: pb.ExecRequest, context: Any) -> pb.ExecResponse:
        c = self._find(request.container_id, lbl.CONTAINER_KIND)
        if not c.running:
            raise Conflict(f"container {c.id} is not running")
        if not request.cmd:
            raise InvalidParameter("cmd must not be empty")
        if not (request.stdin or request.stdout or request.stderr):
            raise InvalidParameter("one of stdin, stdout, or stderr must be set")
        return pb.ExecResponse(url=self.streams.url(
            "exec", c.id, list(request.cmd), request.tty, request.stdin, request.stdout,
            request.stderr))

    @answering
    async def Attach(self, request: pb.AttachRequest, context: Any) -> pb.AttachResponse:
        c = self._find(request.container_id, lbl.CONTAINER_KIND)
        if not c.running:
            raise Conflict(f"container {c.id} is not running")
        return pb.AttachResponse(url=self.streams.url(
            "attach", c.id, [], request.tty, request.stdin, request.stdout, request.stderr))

    @answering
    async def PortForward(self, request: pb.PortForwardRequest,
                          context: Any) -> pb.PortForwardResponse:
        """The URL's client names the ports in its streams (``request.port`` is advisory,
        as for the kubelet)."""
        c = self._find(request.pod_sandbox_id, lbl.SANDBOX_KIND)
        if not c.running:
            raise Conflict(f"pod sandbox {c.id} is not running")
        return pb.PortForwardResponse(url=self.streams.url("portforward", c.id))

    @answering
    async def UpdateContainerResources(self, request: pb.UpdateContainerResourcesRequest,
                                       context: Any) -> pb.UpdateContainerResourcesResponse:
        c = self._find(request.container_id, lbl.CONTAINER_KIND)
        await self.containers.update(c.id, specs.resources(request.linux))
        return pb.UpdateContainerResourcesResponse()

    @answering
    async def ReopenContainerLog(self, request: pb.ReopenContainerLogRequest,
                                 context: Any) -> pb.ReopenContainerLogResponse:
        c = self._find(request.container_id, lbl.CONTAINER_KIND)
        job = self._jobs.get(c.id)
        if not c.running or job is None:
            raise Conflict(f"container {c.id} is not running")
        await asyncio.to_thread(job.reopen)
        return pb.ReopenContainerLogResponse()

    @answering
    async def ExecSync(self, request: pb.ExecSyncRequest, context: Any) -> pb.ExecSyncResponse:
        c = self._find(request.container_id, lbl.CONTAINER_KIND)
        if not request.cmd:
            raise InvalidParameter("cmd must not be empty")
        code, out, err = await self._exec_sync(c.id, list(request.cmd), request.timeout)
        return pb.ExecSyncResponse(stdout=out, stderr=err, exit_code=code)

    async def _exec_sync(self, cid: str, cmd: list[str], timeout: int) -> tuple[int, bytes, bytes]:
        """Run ``cmd`` to its end (killed after ``timeout`` seconds, 0: none)."""
        streams = {1: bytearray(), 2: bytearray()}

        def collect(stream: int, payload: bytes) -> None:
            if stream in streams:
                streams[stream].extend(payload[:EXEC_OUTPUT_MAX - len(streams[stream])])
        try:
            code = await self.engine.execs.run(cid, cmd, timeout or None, collect)
        except asyncio.TimeoutError:
            raise WharfError(f"command {cmd!r} timed out after {timeout}s") from None
        return code, bytes(streams[1]), bytes(streams[2])

    # -- shared steps --------------------------------------------------------
    async def _stop(self, cid: str, timeout: int) -> None:
        """Stop signal, then SIGKILL after ``timeout`` seconds; at once for 0 (containerd's)."""
        try:
            if timeout > 0:
                await self.containers.stop(cid, timeout=timeout)
            elif self.containers.get(cid).running:
                await self.containers.kill(cid, "KILL")
        except (NotModified, NotFound):
            pass
        except Conflict:  # it exited meanwhile
            if self.containers.get(cid).running:
                raise

    async def _remove(self, cid: str) -> None:
        try:
            await self.containers.remove(cid, force=True, volumes=True)
        except NotFound:
            pass
        copier = self._copiers.get(cid)  # ends with the container; forgets itself
        if copier is not None:
            await asyncio.gather(copier, return_exceptions=True)

    async def _copy_log(self, c: Container, since_ns: int | None) -> None:
        """Copy the json-file log into the CRI log while ``c`` runs."""
        path = _labels(c).get(lbl.LOG_PATH)
        if not path or c.id in self._copiers:
            return
        started = c.state.get("StartedAt")

        def stopped() -> bool:  # this run of it ended (read from the copier's thread)
            return not c.state.get("Running") or c.state.get("StartedAt") != started

        job = crilog.Copier(c.record["LogPath"], path)
        await asyncio.to_thread(job.create)
        copier = asyncio.ensure_future(in_own_thread(job.run, since_ns, stopped))
        self._copiers[c.id] = copier
        self._jobs[c.id] = job

        def done(f: asyncio.Future[None]) -> None:
            if self._copiers.get(c.id) is f:
                del self._copiers[c.id]
                del self._jobs[c.id]
            if not f.cancelled() and f.exception() is not None:
                log.warning("CRI log of %s: %s", c.id, f.exception())
        copier.add_done_callback(done)

    async def resume_logs(self) -> None:
        """At daemon start: copy on for running CRI containers, from the CRI log's mtime."""
        for c in self._all(lbl.CONTAINER_KIND):
            path = _labels(c).get(lbl.LOG_PATH)
            if c.running and path:
                try:
                    since = os.stat(path).st_mtime_ns
                except FileNotFoundError:
                    since = None
                await self._copy_log(c, since)


def _labels(c: Container) -> dict[str, str]:
    return c.config.get("Labels") or {}


def _sandbox_state(c: Container) -> int:
    return pb.SANDBOX_READY if c.running else pb.SANDBOX_NOTREADY


def _selected(labels: dict[str, str], selector: Any) -> bool:
    return all(labels.get(k) == v for k, v in selector.items())
