"""``wharf info``: system-wide information from GET /info."""

from __future__ import annotations

import sys
TYPE_CHECKING = False  # typing costs the CLI ~6 ms of import time
if TYPE_CHECKING:
    from typing import Any

from wharf import __version__
from wharf.cli.common import add_format
from wharf.cli.errors import CommandError
from wharf.cli.format import TemplateError, render_each
from wharf.cli.units import bytes_size
from wharf.client.http import Client

ALIASES = "wharf system info, wharf info"
#: (label, key in /info) for the simple lines of the Server section, in docker's order
SERVER_LINES = (("Server Version", "ServerVersion"), ("Storage Driver", "Driver"),
                ("Logging Driver", "LoggingDriver"), ("Cgroup Driver", "CgroupDriver"),
                ("Cgroup Version", "CgroupVersion"), ("Default Runtime", "DefaultRuntime"),
                ("Init Binary", "InitBinary"), ("Kernel Version", "KernelVersion"),
                ("Operating System", "OperatingSystem"), ("OSType", "OSType"),
                ("Architecture", "Architecture"), ("CPUs", "NCPU"))


def add_arguments(parser: Any) -> None:
    add_format(parser, table=False, short=True)


def run(args: Any, client: Client) -> int:
    info = client.get("/info")
    if args.format:
        data = {"ClientInfo": {"Debug": False, "Context": "default", "Version": __version__}, **info}
        try:
            sys.stdout.write(render_each(args.format, [data]))
        except TemplateError as err:
            raise CommandError(f"Template parsing error: {err}") from None
        return 0
    sys.stdout.write(human(info))
    return 0


def human(info: dict[str, Any]) -> str:
    lines = ["Client:", f" Version:    {__version__}", " Context:    default", " Debug Mode: false", "",
             "Server:", f" Containers: {info.get('Containers', 0)}",
             f"  Running: {info.get('ContainersRunning', 0)}", f"  Paused: {info.get('ContainersPaused', 0)}",
             f"  Stopped: {info.get('ContainersStopped', 0)}", f" Images: {info.get('Images', 0)}"]
    for label, key in SERVER_LINES:
        if info.get(key) not in (None, ""):
            lines.append(f" {label}: {info[key]}")
        if key == "CgroupVersion" and info.get("Runtimes"):
            lines.append(f" Runtimes: {' '.join(sorted(info['Runtimes']))}")
    lines += [f" Total Memory: {bytes_size(info.get('MemTotal', 0))}", f" Name: {info.get('Name', '')}",
              f" ID: {info.get('ID', '')}", f" Docker Root Dir: {info.get('DockerRootDir', '')}",
              f" Debug Mode: {str(info.get('Debug', False)).lower()}"]
    mirrors = (info.get("RegistryConfig") or {}).get("Mirrors") or []
    if mirrors:  # as docker's, only when there are some
        lines += [" Registry Mirrors:", *(f"  {m}" for m in mirrors)]
    lines += info.get("Warnings") or []  # in dockerd's own words, "WARNING: ..."
    return "\n".join(lines) + "\n"
