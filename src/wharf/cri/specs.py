"""CRI configs as Docker create bodies, the engine's one language for containers.

A pod sandbox is a container of the infra image holding the pod's network,
IPC (and, without host networking, UTS) namespaces; a pod's container joins
them with ``container:<sandbox>`` modes, and its PID namespace too when the
pod shares one. Names follow dockershim's (``k8s_POD_<pod>_<ns>_<uid>_<n>``,
``k8s_<ctr>_<pod>_<ns>_<uid>_<n>``), so a second create of the same
(metadata, attempt) is refused as a name conflict, as the CRI wants.
"""

from __future__ import annotations

import json
import os
from typing import Any

from google.protobuf.json_format import MessageToDict

from wharf.cri import labels as lbl
from wharf.cri.pb import api_pb2 as pb
from wharf.errors import InvalidParameter

_PROTOCOLS = {pb.TCP: "tcp", pb.UDP: "udp", pb.SCTP: "sctp"}
_PROPAGATION = {pb.PROPAGATION_PRIVATE: "rprivate", pb.PROPAGATION_HOST_TO_CONTAINER: "rslave",
                pb.PROPAGATION_BIDIRECTIONAL: "rshared"}


def _metadata(message: Any) -> dict[str, Any]:
    return MessageToDict(message, preserving_proto_field_name=True)


def sandbox_name(config: pb.PodSandboxConfig) -> str:
    m = config.metadata
    return f"k8s_POD_{m.name}_{m.namespace}_{m.uid}_{m.attempt}"


def container_name(config: pb.ContainerConfig, sandbox: pb.PodSandboxMetadata) -> str:
    return (f"k8s_{config.metadata.name}_{sandbox.name}_{sandbox.namespace}_{sandbox.uid}_"
            f"{config.metadata.attempt}")


def port_mappings(config: pb.PodSandboxConfig) -> list[dict[str, Any]]:
    """The pod's host ports as CNI's ``portMappings`` runtime config."""
    return [{"hostPort": p.host_port, "containerPort": p.container_port,
             "protocol": _PROTOCOLS.get(p.protocol, "tcp"), "hostIP": p.host_ip}
            for p in config.port_mappings if p.host_port]


def sandbox_body(config: pb.PodSandboxConfig, image: str, cni: bool) -> dict[str, Any]:
    """The infra container of a pod; with ``cni`` its network namespace has only ``lo``
    (the CNI plugins do the rest, host ports included)."""
    linux = config.linux
    ns = linux.security_context.namespace_options
    host_net = ns.network == pb.NODE
    ports: dict[str, list[dict[str, str]]] = {}
    for p in [] if cni else config.port_mappings:
        key = f"{p.container_port}/{_PROTOCOLS.get(p.protocol, 'tcp')}"
        if p.host_port:
            ports.setdefault(key, []).append({"HostIp": p.host_ip, "HostPort": str(p.host_port)})
    dns = config.dns_config
    hc: dict[str, Any] = {
        "NetworkMode": "host" if host_net else "none" if cni else "default",
        "IpcMode": "host" if ns.ipc == pb.NODE else "shareable",
        "PidMode": "host" if ns.pid == pb.NODE else "",
        "UTSMode": "host" if host_net else "",
        "PortBindings": ports, "Sysctls": dict(linux.sysctls) or None,
        "Privileged": linux.security_context.privileged,
        "Dns": list(dns.servers) or None, "DnsSearch": list(dns.searches) or None,
        "DnsOptions": list(dns.options) or None,
        "IDMapping": id_mapping(ns),
    }
    return {
        "Image": image, "Hostname": "" if host_net else config.hostname,
        "ExposedPorts": {key: {} for key in ports},
        "Labels": lbl.encode(lbl.SANDBOX_KIND, dict(config.labels), _metadata(config.metadata),
                             dict(config.annotations), log_directory=config.log_directory,
                             hostname=config.hostname),
        "HostConfig": hc,
    }


def container_body(config: pb.ContainerConfig, sandbox_id: str, sandbox_hc: dict[str, Any],
                   sandbox_labels: dict[str, str]) -> dict[str, Any]:
    """A pod's container, in its sandbox's namespaces."""
    sec = config.linux.security_context
    res = config.linux.resources
    ns = sec.namespace_options
    join = f"container:{sandbox_id}"
    host_net = sandbox_hc.get("NetworkMode") == "host"
    pid_mode = {pb.NODE: "host", pb.POD: join}.get(ns.pid, "")
    log_dir = sandbox_labels.get(lbl.LOG_DIRECTORY) or ""
    log_path = os.path.join(log_dir, config.log_path) if log_dir and config.log_path else ""
    hc: dict[str, Any] = {
        "NetworkMode": "host" if host_net else join,
        "IpcMode": "host" if sandbox_hc.get("IpcMode") == "host" else join,
        "UTSMode": "host" if host_net else join,
        "PidMode": pid_mode,
        "Mounts": [_mount(m) for m in config.mounts] or None,
        "Privileged": sec.privileged, "ReadonlyRootfs": sec.readonly_rootfs,
        "CapAdd": list(sec.capabilities.add_capabilities) or None,
        "CapDrop": list(sec.capabilities.drop_capabilities) or None,
        "GroupAdd": [str(g) for g in sec.supplemental_groups] or None,
        "SecurityOpt": _security_opts(sec) or None,
        # given, they replace the defaults (as containerd); privileged has none
        "MaskedPaths": list(sec.masked_paths) or None,
        "ReadonlyPaths": list(sec.readonly_paths) or None,
        **resources(res), "OomScoreAdj": res.oom_score_adj,
        # the CRI log is copied from json-file (wharf.cri.crilog), whatever the daemon's default
        "LogConfig": {"Type": "json-file", "Config": {}},
        # the pod's resolver (each container writes its own resolv.conf from these) and
        # user namespace mappings (each container gets a namespace of its own with them)
        **{k: sandbox_hc.get(k) for k in ("Dns", "DnsSearch", "DnsOptions", "IDMapping")},
    }
    body: dict[str, Any] = {
        "Image": config.image.image, "Hostname": sandbox_labels.get(lbl.HOSTNAME) or "",
        "Env": [f"{kv.key}={kv.value}" for kv in config.envs],
        "WorkingDir": config.working_dir, "Tty": config.tty, "OpenStdin": config.stdin,
        "StdinOnce": config.stdin_once, "User": _user(sec),
        "Labels": lbl.encode(lbl.CONTAINER_KIND, dict(config.labels), _metadata(config.metadata),
                             dict(config.annotations), sandbox=sandbox_id, log_path=log_path),
        "HostConfig": hc,
    }
    if config.command:
        body["Entrypoint"] = list(config.command)
        body["Cmd"] = list(config.args)
    elif config.args:
        body["Cmd"] = list(config.args)
    return body


def id_mapping(ns: pb.NamespaceOption) -> dict[str, Any] | None:
    """A pod's user namespace (mode POD) as the engine's ``HostConfig.IDMapping``; None
    for the host's (NODE, or none asked). As containerd: one uid and one gid range,
    each mapping the container's root; CONTAINER and TARGET modes are refused."""
    if not ns.HasField("userns_options") or ns.userns_options.mode == pb.NODE:
        return None
    u = ns.userns_options
    if u.mode != pb.POD:
        raise InvalidParameter(f"unsupported user namespace mode: {pb.NamespaceMode.Name(u.mode)}")
    if len(u.uids) != 1 or len(u.gids) != 1:
        raise InvalidParameter("user namespace: exactly one uid and one gid mapping are supported")
    if u.uids[0].container_id != 0 or u.gids[0].container_id != 0:
        raise InvalidParameter("user namespace: the container's id 0 must be mapped")
    return {key: [{"ContainerID": m.container_id, "HostID": m.host_id, "Size": m.length}]
            for key, m in (("UIDMappings", u.uids[0]), ("GIDMappings", u.gids[0]))}


def propagation(docker_mode: str) -> int:
    """A bind mount's Docker propagation as the CRI's enum."""
    recursive = docker_mode if docker_mode.startswith("r") else "r" + docker_mode
    return next((k for k, v in _PROPAGATION.items() if v == recursive), pb.PROPAGATION_PRIVATE)


def resources(res: pb.LinuxContainerResources) -> dict[str, Any]:
    """Docker's resource fields of a HostConfig (or update) for the ones the CRI set;
    a memory limit without a swap limit allows no swap (as the kubelet's NoSwap)."""
    out = {"Memory": res.memory_limit_in_bytes,
           "MemorySwap": res.memory_swap_limit_in_bytes or res.memory_limit_in_bytes,
           "CpuShares": res.cpu_shares, "CpuQuota": res.cpu_quota, "CpuPeriod": res.cpu_period,
           "CpusetCpus": res.cpuset_cpus, "CpusetMems": res.cpuset_mems}
    return {k: v for k, v in out.items() if v}


def _mount(m: pb.Mount) -> dict[str, Any]:
    """A CRI mount as a HostConfig.Mounts entry: an image volume (read-only, as the CRI
    wants), or a bind whose missing host path is made (as containerd does), recursively
    read-only when asked (the engine refuses that with a writable or non-private bind)."""
    if m.image.image:
        if not m.readonly:
            raise InvalidParameter(f"image volume at {m.container_path} must be read-only")
        return {"Type": "image", "Source": m.image.image, "Target": m.container_path,
                "ReadOnly": True, "ImageOptions": {"Subpath": m.image_sub_path}}
    return {"Type": "bind", "Source": m.host_path, "Target": m.container_path,
            "ReadOnly": m.readonly,
            "BindOptions": {"Propagation": _PROPAGATION.get(m.propagation, "rprivate"),
                            "CreateMountpoint": True,
                            "ReadOnlyForceRecursive": m.recursive_read_only}}


def status_mount(point: dict[str, Any]) -> pb.Mount:
    """An engine mount point as ContainerStatus's mount (an image volume with its image's ID)."""
    out = pb.Mount(container_path=point["Destination"], readonly=not point["RW"],
                   recursive_read_only=bool(point.get("RecursiveReadOnly")),
                   propagation=propagation(point.get("Propagation") or ""))
    if point["Type"] == "image":
        out.image.image = out.image.image_ref = point["Source"]
        out.image_sub_path = point.get("Subpath") or ""
    else:
        out.host_path = point["Source"]
    return out


def _user(sec: pb.LinuxContainerSecurityContext) -> str:
    if sec.HasField("run_as_group") and not (sec.HasField("run_as_user") or sec.run_as_username):
        raise InvalidParameter("user group is specified without user or username")
    if sec.HasField("run_as_user"):
        user = str(sec.run_as_user.value)
    else:
        user = sec.run_as_username
    if user and sec.HasField("run_as_group"):
        user += f":{sec.run_as_group.value}"
    return user


def _seccomp_profile(sec: pb.LinuxContainerSecurityContext) -> str:
    """"" (the runtime's default), "unconfined" or a localhost profile's path. No
    profile at all is unconfined, as the CRI says (the kubelet always sends one);
    the deprecated ``seccomp_profile_path`` counts when ``seccomp`` is absent."""
    if sec.HasField("seccomp"):
        profile = sec.seccomp
        if profile.profile_type == pb.SecurityProfile.Localhost:
            return profile.localhost_ref.removeprefix("localhost/")
        return "unconfined" if profile.profile_type == pb.SecurityProfile.Unconfined else ""
    path = sec.seccomp_profile_path
    if path in ("runtime/default", "docker/default"):
        return ""
    return path.removeprefix("localhost/") if path.startswith("localhost/") else "unconfined"


def _security_opts(sec: pb.LinuxContainerSecurityContext) -> list[str]:
    out = ["no-new-privileges"] if sec.no_new_privs else []
    profile = _seccomp_profile(sec)
    if profile == "unconfined":
        out.append("seccomp=unconfined")
    elif profile:
        with open(profile) as f:
            out.append("seccomp=" + json.dumps(json.load(f)))
    return out
