"""The flags ``run`` and ``create`` share, and the ``/containers/create`` body they make.

The body is what the docker CLI sends for the same flags (Config fields at
the top, ``HostConfig``, ``NetworkingConfig``), so wharfd and dockerd see
the same request from either client.
"""

from __future__ import annotations

import os
TYPE_CHECKING = False  # typing costs the CLI ~6 ms of import time
if TYPE_CHECKING:
    from typing import Any

from wharf.cli.errors import CommandError
from wharf.cli.mountspec import mount_spec
from wharf.cli.units import mem_bytes, nano_cpus, ram_in_bytes

_RESTART_NAMES = ("no", "always", "unless-stopped", "on-failure")


def add_container_flags(parser: Any) -> None:
    """Docker's container flags (the ones wharf acts on)."""
    add = parser.add_argument
    add("--add-host", action="append", dest="add_host", help="Add a custom host-to-IP mapping (host:ip)")
    add("-a", "--attach", action="append", help="Attach to STDIN, STDOUT or STDERR")
    add("--cap-add", action="append", help="Add Linux capabilities")
    add("--cap-drop", action="append", help="Drop Linux capabilities")
    add("--cgroup-parent", help="Optional parent cgroup for the container")
    add("--cidfile", help="Write the container ID to the file")
    add("-c", "--cpu-shares", type=int, default=0, help="CPU shares (relative weight)")
    add("--cpu-period", type=int, default=0, help="Limit CPU CFS (Completely Fair Scheduler) period")
    add("--cpu-quota", type=int, default=0, help="Limit CPU CFS (Completely Fair Scheduler) quota")
    add("--cpus", type=nano_cpus, metavar="decimal", default=0, help="Number of CPUs")
    add("--cpuset-cpus", help="CPUs in which to allow execution (0-3, 0,1)")
    add("--cpuset-mems", help="MEMs in which to allow execution (0-3, 0,1)")
    add("--device", action="append", help="Add a host device to the container")
    add("--device-cgroup-rule", action="append", dest="device_cgroup_rule",
        help="Add a rule to the cgroup allowed devices list")
    add("--dns", action="append", help="Set custom DNS servers")
    add("--dns-option", action="append", help="Set DNS options")
    add("--dns-search", action="append", help="Set custom DNS search domains")
    add("--domainname", default="", help="Container NIS domain name")
    add("--entrypoint", help="Overwrite the default ENTRYPOINT of the image")
    add("-e", "--env", action="append", help="Set environment variables")
    add("--env-file", action="append", help="Read in a file of environment variables")
    add("--expose", action="append", help="Expose a port or a range of ports")
    add("--group-add", action="append", help="Add additional groups to join")
    add("-h", "--hostname", default="", help="Container host name")
    add("--init", action="store_true",
        help="Run an init inside the container that forwards signals and reaps processes")
    add("-i", "--interactive", action="store_true", help="Keep STDIN open even if not attached")
    add("--ip", default="", help="IPv4 address (e.g., 172.30.100.104)")
    add("--ip6", default="", help="IPv6 address (e.g., 2001:db8::33)")
    add("--link-local-ip", action="append", help="Container IPv4/IPv6 link-local addresses")
    add("--ipc", default="", help="IPC mode to use")
    add("-l", "--label", action="append", help="Set meta data on a container")
    add("--label-file", action="append", help="Read in a line delimited file of labels")
    add("--link", action="append", help="Add link to another container")
    add("--log-driver", default="", help="Logging driver for the container")
    add("--log-opt", action="append", help="Log driver options")
    add("-m", "--memory", type=ram_in_bytes, metavar="bytes", default=0, help="Memory limit")
    add("--memory-reservation", type=ram_in_bytes, metavar="bytes", default=0,
        help="Memory soft limit")
    add("--memory-swap", type=mem_bytes, metavar="bytes", default=0,
        help="Swap limit equal to memory plus swap: '-1' to enable unlimited swap")
    add("--mount", action="append", type=mount_spec, help="Attach a filesystem mount to the container")
    add("--mac-address", default="", help="Container MAC address (e.g., 92:d0:c6:0a:29:33)")
    add("--name", default="", help="Assign a name to the container")
    add("--network", "--net", dest="network", default="default",
        metavar="network", help="Connect a container to a network")
    add("--network-alias", action="append", help="Add network-scoped alias for the container")
    add("--oom-kill-disable", action="store_true", help="Disable OOM Killer")
    add("--pid", default="", help="PID namespace to use")
    add("--pids-limit", type=int, default=0, help="Tune container pids limit (set -1 for unlimited)")
    add("--platform", default="", help="Set platform if server is multi-platform capable")
    add("--privileged", action="store_true", help="Give extended privileges to this container")
    add("-p", "--publish", action="append", help="Publish a container's port(s) to the host")
    add("-P", "--publish-all", action="store_true",
        help="Publish all exposed ports to random ports")
    add("--pull", default="missing",
        help='Pull image before running ("always", "missing", "never")')
    add("--read-only", action="store_true", help="Mount the container's root filesystem as read only")
    add("--restart", default="no", help="Restart policy to apply when a container exits")
    add("--rm", action="store_true",
        help="Automatically remove the container and its associated anonymous volumes when it exits")
    add("--runtime", default="", help="Runtime to use for this container")
    add("--security-opt", action="append", help="Security Options")
    add("--shm-size", type=ram_in_bytes, metavar="bytes", default=0, help="Size of /dev/shm")
    add("--stop-signal", default="", help="Signal to stop the container")
    add("--sysctl", action="append", help="Sysctl options")
    add("--stop-timeout", type=int, help="Timeout (in seconds) to stop a container")
    add("--tmpfs", action="append", help="Mount a tmpfs directory")
    add("-t", "--tty", action="store_true", help="Allocate a pseudo-TTY")
    add("--ulimit", action="append", metavar="ulimit", help="Ulimit options")
    add("-u", "--user", default="", help='Username or UID (format: <name|uid>[:<group|gid>])')
    add("--userns", default="", help="User namespace to use")
    add("--uts", default="", help="UTS namespace to use")
    add("-v", "--volume", action="append", help="Bind mount a volume")
    add("--volumes-from", action="append", help="Mount volumes from the specified container(s)")
    add("-w", "--workdir", default="", help="Working directory inside the container")
    add("image", metavar="IMAGE")
    add("command", nargs="...", metavar="COMMAND")


def read_lines(paths: list[str] | None) -> list[str]:
    """The meaningful lines of --env-file / --label-file files (no blanks, no # comments)."""
    lines = []
    for path in paths or []:
        try:
            with open(path, encoding="utf-8") as fh:
                text = fh.read()
        except OSError as err:
            raise CommandError(f"open {path}: {err.strerror.lower() if err.strerror else err}", 125)
        lines += [ln.strip() for ln in text.splitlines() if ln.strip() and not ln.lstrip().startswith("#")]
    return lines


def env_list(files: list[str] | None, values: list[str] | None) -> list[str]:
    """Env entries; a bare ``NAME`` takes the CLI's own value when it has one (docker's ValidateEnv)."""
    out = []
    for item in read_lines(files) + list(values or []):
        if "=" not in item and item in os.environ:
            item = f"{item}={os.environ[item]}"
        out.append(item)
    return out


def _labels(files: list[str] | None, values: list[str] | None) -> dict[str, str]:
    labels = {}
    for item in read_lines(files) + list(values or []):
        key, _, value = item.partition("=")
        labels[key] = value
    return labels


def restart_policy(spec: str) -> dict[str, Any]:
    """``on-failure:3`` → ``{"Name": "on-failure", "MaximumRetryCount": 3}``."""
    name, _, count = spec.partition(":")
    if spec.count(":") > 1 or (":" in spec and not count.isdigit()):
        raise CommandError("invalid restart policy format", 125)
    if name not in _RESTART_NAMES:
        raise CommandError(f"invalid restart policy '{name}'", 125)
    if count and name != "on-failure":
        raise CommandError(f"maximum retry count cannot be used with restart policy '{name}'", 125)
    return {"Name": name, "MaximumRetryCount": int(count or 0)}


def ulimit(spec: str) -> dict[str, Any]:
    """``nofile=1024:2048`` → ``{"Name": "nofile", "Soft": 1024, "Hard": 2048}``."""
    name, eq, limits = spec.partition("=")
    soft, _, hard = limits.partition(":")
    try:
        soft_n = int(soft)
        hard_n = int(hard) if hard else soft_n
    except ValueError:
        raise CommandError(f'invalid argument "{spec}" for "--ulimit" flag: invalid ulimit argument: {spec}', 125) from None
    if not eq or not name:
        raise CommandError(f'invalid argument "{spec}" for "--ulimit" flag: invalid ulimit argument: {spec}', 125)
    if soft_n > hard_n:
        raise CommandError(f'invalid argument "{spec}" for "--ulimit" flag: ulimit soft limit must be less than or equal to hard limit: {soft_n} > {hard_n}', 125)
    return {"Name": name, "Hard": hard_n, "Soft": soft_n}


def _ports(specs: list[str] | None) -> tuple[dict[str, Any], dict[str, list[dict[str, str]]]]:
    """``-p [ip:][hostPort:]containerPort[/proto]`` → (ExposedPorts, PortBindings)."""
    if not specs:
        return {}, {}  # the parser (dataclasses, ipaddress) costs every ``run`` ~5 ms
    from wharf.errors import InvalidParameter
    from wharf.network import ports
    parsed = []
    for spec in specs:
        try:
            parsed += ports.parse_publish(spec)
        except InvalidParameter as e:
            raise CommandError(f'invalid argument "{spec}" for "-p, --publish" flag: {e.message}', 125) from None
    return {b.key: {} for b in parsed}, ports.to_port_bindings(parsed)


def _endpoints(args: Any) -> dict[str, Any]:
    """``--ip``/``--ip6``/``--link-local-ip``/``--network-alias``/``--link`` for the
    container's (first) network."""
    if not (args.ip or args.ip6 or args.link_local_ip or args.network_alias or args.link):
        return {}
    return {args.network: {"IPAMConfig": endpoint_ipam(args.ip, args.ip6, args.link_local_ip),
                           "Aliases": args.network_alias or None,
                           "Links": args.link or None}}


def endpoint_ipam(ip: str, ip6: str, link_local: list[str] | None) -> dict[str, Any] | None:
    """An endpoint's ``IPAMConfig`` from ``--ip``, ``--ip6``, ``--link-local-ip`` (None: none given)."""
    ipam = {k: v for k, v in (("IPv4Address", ip), ("IPv6Address", ip6), ("LinkLocalIPs", link_local)) if v}
    return ipam or None


def _volumes(specs: list[str] | None) -> tuple[dict[str, Any], list[str]]:
    """``-v /host:/ctr[:ro]`` binds and ``-v /ctr`` anonymous volumes."""
    volumes: dict[str, Any] = {}
    binds = []
    for spec in specs or []:
        if spec.startswith(".") and ":" in spec:  # docker makes a relative host path absolute
            source, _, rest = spec.partition(":")
            spec = f"{os.path.abspath(source)}:{rest}"
        if ":" in spec:
            binds.append(spec)
        else:
            volumes[spec] = {}
    return volumes, binds


def attach_streams(args: Any) -> tuple[bool, bool, bool]:
    """(stdin, stdout, stderr) to attach: ``-a`` picks them; default stdout+stderr, stdin with -i."""
    if args.attach:
        chosen = {a.lower() for a in args.attach}
        bad = chosen - {"stdin", "stdout", "stderr"}
        if bad:
            raise CommandError(f"invalid argument \"{sorted(bad)[0]}\" for \"-a, --attach\" flag: valid streams are STDIN, STDOUT and STDERR", 125)
        return "stdin" in chosen, "stdout" in chosen, "stderr" in chosen
    return args.interactive, True, True


def build(args: Any, detach: bool = False) -> dict[str, Any]:
    """The ``/containers/create`` body for the parsed flags (docker's shape and defaults)."""
    if args.rm and args.restart not in ("no", ""):
        raise CommandError("Conflicting options: --restart and --rm", 125)
    if detach and args.attach:
        raise CommandError("Conflicting options: -a and -d", 125)
    stdin, stdout, stderr = (False, False, False) if detach else attach_streams(args)
    exposed, bindings = _ports(args.publish)
    for port in args.expose or []:
        exposed[port if "/" in port else f"{port}/tcp"] = {}
    volumes, binds = _volumes(args.volume)
    entrypoint = None if args.entrypoint is None else ([args.entrypoint] if args.entrypoint else [""])
    log_config = dict(item.partition("=")[::2] for item in args.log_opt or [])
    host_config: dict[str, Any] = {
        "Binds": binds or None,
        "ContainerIDFile": args.cidfile or "",
        "LogConfig": {"Type": args.log_driver, "Config": log_config},
        "NetworkMode": args.network,
        "PublishAllPorts": args.publish_all,
        "Links": args.link or None,
        "PortBindings": bindings,
        "RestartPolicy": restart_policy(args.restart or "no"),
        "AutoRemove": args.rm,
        "CapAdd": args.cap_add or None,
        "CapDrop": args.cap_drop or None,
        "Dns": args.dns or [],
        "DnsOptions": args.dns_option or [],
        "DnsSearch": args.dns_search or [],
        "ExtraHosts": args.add_host or None,
        "GroupAdd": args.group_add or None,
        "IpcMode": args.ipc,
        "PidMode": args.pid,
        "UTSMode": args.uts,
        "Privileged": args.privileged,
        "ReadonlyRootfs": args.read_only,
        "Mounts": args.mount or None,
        "VolumesFrom": args.volumes_from or None,
        "SecurityOpt": security_opts(args.security_opt) or None,
        "Devices": [device(d) for d in args.device or []],
        "DeviceCgroupRules": args.device_cgroup_rule or None,
        "Sysctls": sysctls(args.sysctl) or None,
        "UsernsMode": args.userns,
        "Tmpfs": {t.partition(":")[0]: t.partition(":")[2] for t in args.tmpfs} if args.tmpfs else None,
        "ShmSize": args.shm_size,
        "Runtime": args.runtime,
        "CgroupParent": args.cgroup_parent or "",
        "CpuShares": args.cpu_shares,
        "CpuPeriod": args.cpu_period,
        "CpuQuota": args.cpu_quota,
        "NanoCpus": args.cpus,
        "CpusetCpus": args.cpuset_cpus or "",
        "CpusetMems": args.cpuset_mems or "",
        "Memory": args.memory,
        "MemoryReservation": args.memory_reservation,
        "MemorySwap": args.memory_swap,
        "OomKillDisable": args.oom_kill_disable,
        "PidsLimit": args.pids_limit or None,
        "Ulimits": [ulimit(u) for u in args.ulimit] if args.ulimit else None,
        "Init": True if args.init else None,
    }
    return {
        "Hostname": args.hostname,
        "Domainname": args.domainname,
        "User": args.user,
        "AttachStdin": stdin,
        "AttachStdout": stdout,
        "AttachStderr": stderr,
        "ExposedPorts": exposed or None,
        "Tty": args.tty,
        "OpenStdin": args.interactive,
        "StdinOnce": args.interactive and stdin,
        "Env": env_list(args.env_file, args.env),
        "Cmd": args.command or None,
        "Image": args.image,
        "Volumes": volumes or None,
        "WorkingDir": args.workdir,
        "Entrypoint": entrypoint,
        "Labels": _labels(args.label_file, args.label),
        "StopSignal": args.stop_signal or None,
        "StopTimeout": args.stop_timeout,
        "HostConfig": host_config,
        **({"MacAddress": args.mac_address} if args.mac_address else {}),
        "NetworkingConfig": {"EndpointsConfig": _endpoints(args)},
    }


def security_opts(opts: list[str] | None) -> list[str]:
    """``seccomp=<file>`` sends the profile's JSON, as the docker CLI does."""
    out = []
    for opt in opts or []:
        key, sep, value = opt.partition("=") if "=" in opt else opt.partition(":")
        if key == "seccomp" and sep and value not in ("unconfined", "builtin", ""):
            try:
                with open(value, encoding="utf-8") as fh:
                    opt = "seccomp=" + json_compact(fh.read())
            except OSError as err:
                reason = (err.strerror or str(err)).lower()
                raise CommandError(f'invalid argument "{opt}" for "--security-opt" flag: '
                                   f"opening seccomp profile ({value}) failed: open {value}: {reason}", 125)
            except ValueError as err:
                raise CommandError(f'invalid argument "{opt}" for "--security-opt" flag: '
                                   f"decoding seccomp profile ({value}) failed: {err}", 125)
        out.append(opt)
    return out


def json_compact(text: str) -> str:
    import json
    return json.dumps(json.loads(text), separators=(",", ":"))


def device(spec: str) -> dict[str, str]:
    """``/dev/x[:/dev/y][:rwm]`` → Docker's DeviceMapping."""
    parts = spec.split(":")
    if len(parts) > 3 or not parts[0]:
        raise CommandError(f'invalid argument "{spec}" for "--device" flag: bad format for path: {spec}', 125)
    host, target, perms = parts[0], parts[0], "rwm"
    if len(parts) == 3:
        target, perms = parts[1], parts[2]
    elif len(parts) == 2:
        if parts[1] and set(parts[1]) <= set("rwm"):
            perms = parts[1]
        else:
            target = parts[1]
    if not set(perms) <= set("rwm") or not target.startswith("/"):
        raise CommandError(f'invalid argument "{spec}" for "--device" flag: bad format for path: {spec}', 125)
    return {"PathOnHost": host, "PathInContainer": target, "CgroupPermissions": perms}


_SYSCTL_NAMES = ("kernel.msgmax", "kernel.msgmnb", "kernel.msgmni", "kernel.sem", "kernel.shmall",
                 "kernel.shmmax", "kernel.shmmni", "kernel.shm_rmid_forced")


def sysctls(values: list[str] | None) -> dict[str, str]:
    """``--sysctl name=value``; only namespaced names, as docker's ValidateSysctl."""
    out = {}
    for item in values or []:
        name, eq, value = item.partition("=")
        if not eq:
            raise CommandError(f'invalid argument "{item}" for "--sysctl" flag: '
                               f"sysctl '{item}' is not whitelisted", 125)
        if name not in _SYSCTL_NAMES and not name.startswith(("net.", "fs.mqueue.")):
            raise CommandError(f'invalid argument "{item}" for "--sysctl" flag: '
                               f"sysctl '{item}' is not whitelisted", 125)
        out[name] = value
    return out


def with_tag(ref: str) -> str:
    """``busybox`` → ``busybox:latest`` (a registry port is not a tag; a digest keeps its form)."""
    if "@" in ref:
        return ref
    name = ref.rsplit("/", 1)[-1]
    return ref if ":" in name else f"{ref}:latest"


def create(client: Any, body: dict[str, Any], name: str, pull: str, command: str,
           platform: str = "") -> dict[str, Any]:
    """POST /containers/create, pulling the image first when docker would.

    ``pull`` is ``missing`` (pull on "No such image", or on an image here for
    another ``platform`` than the one asked for), ``always`` or ``never``.
    Prints the daemon's warnings as docker does.
    """
    import sys

    from wharf.client.http import APIError
    from wharf.cli.common import run_error
    query = {"name": name or None, "platform": platform or None}
    if pull == "always":
        pull_image(client, body["Image"], command, platform)
    try:
        created = client.json("POST", "/containers/create", query, body)
    except APIError as err:
        if err.status != 404 or pull == "never" or not (
                "No such image" in err.message or "does not match the specified platform" in err.message):
            raise run_error(err.message, command) from None
        sys.stderr.write(f"Unable to find image '{with_tag(body['Image'])}' locally\n")
        pull_image(client, body["Image"], command, platform)
        try:
            created = client.json("POST", "/containers/create", query, body)
        except APIError as again:
            raise run_error(again.message, command) from None
    for warning in created.get("Warnings") or []:
        sys.stderr.write(f"WARNING: {warning}\n")
    return created


def pull_image(client: Any, ref: str, command: str, platform: str = "") -> None:
    """POST /images/create?fromImage=…, progress to stderr; a failure is docker's 125."""
    import sys

    from wharf.client.http import APIError
    from wharf.cli.commands.pull import auth_header
    from wharf.cli.common import run_error
    full = with_tag(ref)
    image, _, tag = full.rpartition(":") if "@" not in full else (full, "", "")
    try:
        resp = client.request("POST", "/images/create",
                              {"fromImage": image, "tag": tag or None, "platform": platform or None},
                              headers=auth_header(full), stream=True)
        for message in resp.iter_json():
            if message.get("error"):
                raise run_error(message["error"], command)
            status = message.get("status")
            if status:
                prefix = f"{message['id']}: " if message.get("id") else ""
                sys.stderr.write(f"{prefix}{status}\n")
        resp.close()
    except APIError as err:
        raise run_error(err.message, command) from None
