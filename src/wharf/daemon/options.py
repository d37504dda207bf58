"""wharfd's settings as dockerd has them: one table of flags and daemon.json keys.

Each setting is one ``Option``: its daemon.json key, its command-line
spellings, the ``DaemonConfig`` field it fills, how a flag's text and a
file's JSON value become that field's value, and whether SIGHUP reloads it.
A new flag gets its daemon.json key (and its place in conflict checks,
``--validate`` and reloads) by adding one entry to ``OPTIONS``.

dockerd's rules, and its words (moby ``daemon/config``): a key the table does
not know, or one given both as a flag and in the file, refuses the start
("unable to configure the Docker daemon with file ...: the following
directives ..."); a missing file is an error only when ``--config-file``
named it.
"""

from __future__ import annotations

import argparse
import ipaddress
import json
import os
from dataclasses import dataclass
from typing import Any, Callable

from wharf.config import DaemonConfig, config_home, rootless_defaults
from wharf.engine import logconfig
from wharf.image import drivers
from wharf.errors import WharfError
from wharf.registry.client.endpoints import validate_mirror
from wharf.runtime.jsonlog import parse_size
from wharf.strconv import invalid_bool, parse_bool

DEFAULT_CONFIG_FILE = "/etc/wharf/daemon.json"
LOG_LEVELS = ("debug", "info", "warn", "error", "fatal")


class ConfigError(Exception):
    """A configuration dockerd would refuse; the message is dockerd's."""


def _bool(text: str) -> bool:
    """Go's strconv.ParseBool, as pflag's ``--flag=value`` of a boolean."""
    on = parse_bool(text)
    if on is None:
        raise ValueError(invalid_bool(text))
    return on


#: go-units' ulimit names (each is RLIMIT_<NAME>)
ULIMITS = ("as", "core", "cpu", "data", "fsize", "locks", "memlock", "msgqueue", "nice",
           "nofile", "nproc", "rss", "rtprio", "rttime", "sigpending", "stack")


def ulimit(text: str) -> dict[str, Any]:
    """``nofile=1024[:2048]`` → ``{"Name", "Soft", "Hard"}`` (go-units' ParseUlimit)."""
    name, eq, limits = text.partition("=")
    if not eq or not name:
        raise ValueError(f"invalid ulimit argument: {text}")
    if name not in ULIMITS:
        raise ValueError(f"invalid ulimit type: {name}")
    soft, _, hard = limits.partition(":")
    try:
        soft_n = int(soft)
        hard_n = int(hard) if hard else soft_n
    except ValueError:
        raise ValueError(f"invalid ulimit argument: {text}") from None
    if soft_n > hard_n:
        raise ValueError(f"ulimit soft limit must be less than or equal to hard limit: "
                         f"{soft_n} > {hard_n}")
    return {"Name": name, "Hard": hard_n, "Soft": soft_n}


def _ulimits_json(value: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """daemon.json's ``default-ulimits``: ``{"nofile": {"Name", "Hard", "Soft"}}``."""
    out = {name: {"Name": u.get("Name") or name, "Hard": int(u["Hard"]), "Soft": int(u["Soft"])}
           for name, u in value.items()}
    for u in out.values():
        ulimit(f"{u['Name']}={u['Soft']}:{u['Hard']}")  # the flag's checks
    return out


def address_pool(text: str) -> dict[str, Any]:
    """``base=10.10.0.0/16,size=24`` (dockerd's PoolsOpt)."""
    fields = dict(part.split("=", 1) for part in text.split(",") if "=" in part)
    if set(fields) != {"base", "size"}:
        raise ValueError(f"invalid field in --default-address-pool: {text}")
    return _pool(fields)


def _pool(fields: dict[str, Any]) -> dict[str, Any]:
    base = ipaddress.ip_network(str(fields["base"]), strict=False)
    size = int(fields["size"])
    if not base.prefixlen <= size <= base.max_prefixlen:
        raise ValueError(f"invalid pools size: {size} for base {base}")
    return {"base": str(base), "size": size}


def _key_value(text: str) -> tuple[str, str]:
    key, eq, value = text.partition("=")
    if not eq or not key:
        raise ValueError(f"bad format of option: {text}")
    return key, value


def _runtime(text: str) -> tuple[str, dict[str, Any]]:
    """``--add-runtime name=path``."""
    name, path = _key_value(text)
    return name, {"path": path}


def _log_level(text: str) -> str:
    if text not in LOG_LEVELS:
        raise ValueError(f"unable to parse logging level: {text}")
    return text


@dataclass(frozen=True)
class Option:
    """One setting. ``kind`` says how values combine: "value" (one), "list" (a
    flag repeats, the file has a JSON list), "map" (a flag repeats with
    ``key=value``, the file has a JSON object). ``parse`` turns one flag
    argument (or, for "list", one item) into its value, ``load`` a file's whole
    JSON value (default: ``parse`` on each item or the string)."""

    key: str
    flags: tuple[str, ...]
    field: str
    kind: str = "value"
    parse: Callable[[str], Any] = str
    load: Callable[[Any], Any] | None = None
    json_type: type | tuple[type, ...] = str
    reload: bool = False
    help: str = ""
    boolean: bool = False

    def from_json(self, value: Any) -> Any:
        if not isinstance(value, self.json_type) or (self.json_type is int and isinstance(value, bool)):
            go = {str: "string", bool: "bool", int: "int", list: "[]string", dict: "map"}
            want = go.get(self.json_type if isinstance(self.json_type, type) else dict, "value")
            got = {str: "string", bool: "bool", int: "number", float: "number", list: "array",
                   dict: "object"}.get(type(value), "value")
            raise ValueError(f"json: cannot unmarshal {got} into Go struct field "
                             f"Config.{self.key} of type {want}")
        if self.load is not None:
            return self.load(value)
        if self.kind == "list":
            return [self.parse(str(v)) for v in value]
        if self.kind == "map":
            return {str(k): str(v) for k, v in value.items()}
        return value if self.boolean or self.json_type is int else self.parse(value)


def _bool_option(key: str, flags: tuple[str, ...], field: str, help: str,
                 reload: bool = False) -> Option:
    return Option(key, flags, field, parse=_bool, json_type=bool, boolean=True, reload=reload,
                  help=help)


def _int_option(key: str, flags: tuple[str, ...], field: str, help: str,
                reload: bool = False) -> Option:
    return Option(key, flags, field, parse=int, json_type=int, reload=reload, help=help)


#: Every setting of wharfd, in ``--help`` order.
OPTIONS: tuple[Option, ...] = (
    Option("hosts", ("-H", "--host"), "hosts", "list", json_type=list,
           help="daemon socket(s) to listen on (unix:///path or tcp://host:port)"),
    Option("data-root", ("--data-root",), "data_root", parse=os.path.abspath,
           help="root directory of persistent state"),
    Option("exec-root", ("--exec-root",), "exec_root", parse=os.path.abspath,
           help="root directory of execution state"),
    Option("pidfile", ("-p", "--pidfile"), "pidfile", parse=os.path.abspath,
           help="path to use for the daemon PID file (default {exec-root}/wharfd.pid)"),
    _bool_option("debug", ("-D", "--debug"), "debug", "enable debug mode", reload=True),
    Option("log-level", ("-l", "--log-level"), "log_level", parse=_log_level, reload=True,
           help="set the logging level (debug, info, warn, error, fatal)"),
    Option("cgroup-parent", ("--cgroup-parent",), "cgroup_parent",
           help="set parent cgroup for all containers"),
    Option("default-runtime", ("--default-runtime",), "default_runtime", reload=True,
           help="default OCI runtime for containers"),
    Option("runtimes", ("--add-runtime",), "runtimes", "map", parse=_runtime, json_type=dict,
           load=lambda v: {str(k): {"path": str(r.get("path") or k)} for k, r in v.items()},
           reload=True, help="register an additional OCI compatible runtime (name=path)"),
    Option("storage-driver", ("-s", "--storage-driver"), "storage_driver",
           help="storage driver to use (overlay2, vfs; default: the data root's, else "
                "overlay2 where overlayfs mounts, else vfs)"),
    Option("bridge", ("-b", "--bridge", "--bridge-name"), "bridge_name",
           help="interface of the default bridge network (none: no default bridge)"),
    Option("bip", ("--bip",), "bip", help="default bridge's IP and prefix (10.9.0.1/24)"),
    Option("mtu", ("--mtu",), "mtu", parse=int, json_type=int,
           help="MTU of the containers' interfaces on the default bridge"),
    Option("default-address-pools", ("--default-address-pool",), "default_address_pools",
           "list", parse=address_pool, json_type=list,
           load=lambda v: [_pool(p) for p in v], help="default address pools for networks"),
    Option("ip", ("--ip",), "ip", help="default IP when binding container ports"),
    _bool_option("ip-forward", ("--ip-forward",), "ip_forward", "enable net.ipv4.ip_forward"),
    _bool_option("iptables", ("--iptables",), "iptables",
                 "enable addition of firewall rules (nftables here)"),
    _bool_option("ip-masq", ("--ip-masq",), "ip_masq", "enable IP masquerading"),
    _bool_option("userland-proxy", ("--userland-proxy",), "userland_proxy",
                 "use userland proxy for loopback traffic"),
    Option("firewall-table", ("--firewall-table",), "firewall_table",
           help="name of wharf's nftables table"),
    Option("dns", ("--dns",), "dns", "list", json_type=list, help="DNS server to use"),
    Option("dns-search", ("--dns-search",), "dns_search", "list", json_type=list,
           help="DNS search domains to use"),
    Option("dns-opts", ("--dns-opt",), "dns_opts", "list", json_type=list,
           help="DNS options to use"),
    Option("log-driver", ("--log-driver",), "log_driver",
           help="default driver for container logs"),
    Option("log-opts", ("--log-opt",), "log_opts", "map", parse=_key_value, json_type=dict,
           help="default log driver options for containers"),
    Option("default-ulimits", ("--default-ulimit",), "default_ulimits", "map",
           parse=lambda t: (lambda u: (u["Name"], u))(ulimit(t)), json_type=dict,
           load=_ulimits_json, help="default ulimits for containers"),
    Option("default-shm-size", ("--default-shm-size",), "default_shm_size", parse=parse_size,
           help="default shm size for containers"),
    _bool_option("live-restore", ("--live-restore",), "live_restore",
                 "keep containers running while the daemon is down", reload=True),
    _int_option("shutdown-timeout", ("--shutdown-timeout",), "shutdown_timeout",
                "seconds containers get to stop at a shutdown without live restore",
                reload=True),
    Option("labels", ("--label",), "labels", "list", json_type=list, reload=True,
           help="set key=value labels to the daemon"),
    Option("group", ("-G", "--group"), "group", help="group for the unix socket"),
    Option("insecure-registries", ("--insecure-registry",), "insecure_registries", "list",
           json_type=list, reload=True,
           help="registry (host[:port] or CIDR) to reach over plain HTTP"),
    Option("registry-mirrors", ("--registry-mirror",), "registry_mirrors", "list",
           parse=validate_mirror, json_type=list, reload=True,
           help="preferred Docker registry mirror"),
    _int_option("max-concurrent-downloads", ("--max-concurrent-downloads",),
                "max_concurrent_downloads", "max concurrent downloads for each pull",
                reload=True),
    _int_option("max-concurrent-uploads", ("--max-concurrent-uploads",),
                "max_concurrent_uploads", "max concurrent uploads for each push", reload=True),
    Option("tls", ("--tls",), "tls_enabled", parse=_bool, json_type=bool, boolean=True,
           help="use TLS; implied by --tlsverify (--tls=false: plain TCP, insecure)"),
    _bool_option("tlsverify", ("--tlsverify",), "tls_verify",
                 "use TLS and verify the remote (clients' certificates)"),
    Option("tlscacert", ("--tlscacert",), "tls_ca", help="trust certs signed only by this CA"),
    Option("tlscert", ("--tlscert",), "tls_cert", help="path to TLS certificate file"),
    Option("tlskey", ("--tlskey",), "tls_key", help="path to TLS key file"),
    Option("cluster-store", ("--cluster-store",), "cluster_store",
           help="etcd://host:port[,host:port][/root]: the store of overlay networks"),
    Option("cluster-advertise", ("--cluster-advertise",), "cluster_advertise",
           help="this host's underlay address (an IPv4 address or an interface)"),
    Option("cri-socket", ("--cri-socket",), "cri_socket",
           help="socket of the CRI gRPC service (unix:///path; empty: no CRI)"),
    Option("pod-infra-container-image", ("--pod-infra-container-image",), "pod_infra_image",
           help="image of the pods' sandbox containers (CRI)"),
    Option("certs-dir", ("--certs-dir",), "certs_dir", parse=os.path.abspath,
           help="per-registry hosts.toml (pull mirrors) and certificates, <dir>/<registry>/"),
    Option("cni-conf-dir", ("--cni-conf-dir",), "cni_conf_dir",
           help="CNI network configs of pods (none: pods on the default bridge)"),
    Option("cni-bin-dir", ("--cni-bin-dir",), "cni_bin_dir", parse=os.path.abspath,
           help="where the CNI plugins are"),
    _bool_option("rootless", ("--rootless",), "rootless",
                 "run as a non-root user, in a user namespace (state under $XDG_DATA_HOME "
                 "and $XDG_RUNTIME_DIR)"),
)
BY_KEY = {o.key: o for o in OPTIONS}


def parser() -> argparse.ArgumentParser:
    """wharfd's flags; a flag not given is absent from the namespace (to tell a
    flag from a default, as pflag's ``Changed``)."""
    p = argparse.ArgumentParser(prog="wharfd", description="The wharf container engine daemon",
                                argument_default=argparse.SUPPRESS)
    p.add_argument("--config-file", help=f"daemon configuration file (default {DEFAULT_CONFIG_FILE})")
    p.add_argument("--validate", action="store_true",
                   help="validate the daemon configuration and exit")
    for o in OPTIONS:
        if o.boolean:
            p.add_argument(*o.flags, dest=o.key, nargs="?", const="true", type=_flag(o), help=o.help)
        else:
            p.add_argument(*o.flags, dest=o.key, type=_flag(o), help=o.help,
                           action="append" if o.kind in ("list", "map") else "store")
    return p


def _flag(o: Option) -> Callable[[str], Any]:
    """argparse's type for ``o``: its parse, with dockerd's "invalid argument" wording."""
    def convert(text: str) -> Any:
        try:
            return o.parse(text)
        except (ValueError, KeyError) as e:
            raise argparse.ArgumentTypeError(f'invalid argument "{text}" for "{o.flags[-1]}" '
                                             f"flag: {e}") from None
    convert.__name__ = o.key
    return convert


def flag_values(namespace: argparse.Namespace) -> dict[str, Any]:
    """The settings given as flags, by key, as field values."""
    out: dict[str, Any] = {}
    for o in OPTIONS:
        if o.key in vars(namespace):
            value = getattr(namespace, o.key)
            out[o.key] = dict(value) if o.kind == "map" else value
    return out


def read_file(path: str, explicit: bool) -> dict[str, Any]:
    """daemon.json as a dict of keys; {} for a default file that does not exist."""
    try:
        with open(path, "rb") as f:
            raw = f.read()
    except FileNotFoundError:
        if not explicit:
            return {}
        raise ConfigError(_unable(path, f"open {path}: no such file or directory")) from None
    except OSError as e:
        raise ConfigError(_unable(path, f"open {path}: {os.strerror(e.errno or 0).lower()}")) from None
    if not raw.strip():
        return {}
    try:
        data = json.loads(raw)
    except ValueError as e:
        raise ConfigError(_unable(path, f"invalid character in configuration file: {e}")) from None
    if not isinstance(data, dict):
        raise ConfigError(_unable(path, "json: cannot unmarshal array into Go value of type "
                                        "map[string]interface {}"))
    return data


def _unable(path: str, why: str) -> str:
    return f"unable to configure the Docker daemon with file {path}: {why}"


def _go(value: Any) -> str:
    """A value as Go's %v prints it in dockerd's conflict message."""
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, list):
        return "[" + " ".join(_go(v) for v in value) + "]"
    if isinstance(value, dict):
        return "map[" + " ".join(f"{k}:{_go(v)}" for k, v in sorted(value.items())) + "]"
    return str(value)


def file_values(path: str, data: dict[str, Any], flags: dict[str, Any]) -> dict[str, Any]:
    """The file's settings as field values, refused as dockerd refuses them."""
    unknown = sorted(k for k in data if k not in BY_KEY)
    if unknown:
        raise ConfigError(_unable(path, "the following directives don't match any "
                                        "configuration option: " + ", ".join(unknown)))
    conflicts = [f"{key}: (from flag: {_go(flags[key])}, from file: {_go(data[key])})"
                 for key in BY_KEY if key in data and key in flags]
    if conflicts:
        raise ConfigError(_unable(path, "the following directives are specified both as a "
                                        "flag and in the configuration file: "
                                        + ", ".join(conflicts)))
    out = {}
    for key, value in data.items():
        try:
            out[key] = BY_KEY[key].from_json(value)
        except (ValueError, KeyError, TypeError) as e:
            raise ConfigError(_unable(path, str(e))) from None
    return out


def build(settings: dict[str, Any], base: DaemonConfig | None = None) -> DaemonConfig:
    """A DaemonConfig from defaults (or ``base``) and the settings by key."""
    config = base or DaemonConfig()
    for key, value in settings.items():
        setattr(config, BY_KEY[key].field, value)
    return config


def default_config_file(rootless: bool) -> str:
    """daemon.json unless ``--config-file``: a rootless daemon's is the user's, as dockerd's
    (``$XDG_CONFIG_HOME/wharf/daemon.json``)."""
    return os.path.join(config_home(), "wharf", "daemon.json") if rootless else DEFAULT_CONFIG_FILE


def load(argv: list[str] | None = None) -> tuple[DaemonConfig, argparse.Namespace]:
    """Flags, then daemon.json; raises ConfigError (dockerd's message) or exits on a bad flag."""
    p = parser()
    namespace = p.parse_args(argv)
    flags = flag_values(namespace)
    path = getattr(namespace, "config_file", None)
    config_file = os.path.abspath(path) if path else default_config_file(bool(flags.get("rootless")))
    settings = file_values(config_file, read_file(config_file, path is not None), flags)
    settings.update(flags)
    try:
        config = build(settings, rootless_defaults() if settings.get("rootless") else None)
    except ValueError as e:
        raise ConfigError(str(e)) from None
    config.config_file = config_file
    check(config)
    return config, namespace


def check(config: DaemonConfig) -> None:
    """What no combination of settings may be (dockerd's validation, where wharf has it)."""
    if config.runtime_path(config.default_runtime) is None:
        raise ConfigError(f"specified default runtime '{config.default_runtime}' does not exist")
    seen: dict[str, str] = {}
    for label in config.labels:  # dockerd's GetConflictFreeLabels
        key, _, value = label.partition("=")
        if key in seen and seen[key] != value:
            raise ConfigError(f"conflict labels for {key}={value} and {key}={seen[key]}")
        seen[key] = value
    if config.cluster_store and not config.cluster_advertise:
        raise ConfigError("--cluster-store needs --cluster-advertise")
    if (problem := drivers.supported(config.storage_driver)) is not None:
        raise ConfigError(problem)
    for n in ("max_concurrent_downloads", "max_concurrent_uploads"):
        if getattr(config, n) < 0:
            raise ConfigError(f"invalid {n.replace('_', '-')} value: {getattr(config, n)}")
    if config.mtu < 68 and config.mtu != 0:
        raise ConfigError(f"invalid MTU: {config.mtu}")
    try:
        logconfig.validate(config.log_driver, config.log_opts)
    except WharfError as e:
        raise ConfigError(f"failed to set log opts: {e.message}") from None
    if config.shutdown_timeout < -1:
        raise ConfigError(f"invalid shutdown-timeout: {config.shutdown_timeout}")


def reloaded(config: DaemonConfig, flags: dict[str, Any]) -> dict[str, Any]:
    """The reloadable settings as daemon.json says now (SIGHUP): dockerd's rules, so a
    key left out keeps its value, but max-concurrent-* go back to their defaults.
    Raises ConfigError for a file the start would refuse."""
    path = config.config_file
    settings = file_values(path, read_file(path, path != default_config_file(config.rootless)),
                           flags)
    defaults = DaemonConfig()
    out = {}
    for o in OPTIONS:
        if not o.reload:
            continue
        if o.key in settings:
            out[o.key] = settings[o.key]
        elif o.key in ("max-concurrent-downloads", "max-concurrent-uploads") and o.key not in flags:
            out[o.key] = getattr(defaults, o.field)
    return out
