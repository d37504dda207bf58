"""``wharf version``: Client and Server sections, as docker prints them."""

from __future__ import annotations

import os
import sys
TYPE_CHECKING = False  # typing costs the CLI ~6 ms of import time
if TYPE_CHECKING:
    from typing import Any

from wharf import API_VERSION, __version__
from wharf.cli.common import add_format
from wharf.cli.errors import CommandError
from wharf.cli.format import TemplateError, render_each
from wharf.client.http import APIError, Client, DaemonUnreachable


def add_arguments(parser: Any) -> None:
    add_format(parser, table=False, short=True)


def client_info() -> dict[str, Any]:
    return {"Platform": {"Name": ""}, "Version": __version__, "ApiVersion": API_VERSION,
            "DefaultAPIVersion": API_VERSION, "GitCommit": "", "GoVersion": "python{}.{}.{}".format(*sys.version_info[:3]),
            "Os": sys.platform, "Arch": _arch(os.uname().machine), "BuildTime": "", "Context": "default"}


def _arch(machine: str) -> str:
    return {"x86_64": "amd64", "aarch64": "arm64"}.get(machine, machine)


def run(args: Any, client: Client) -> int:
    data: dict[str, Any] = {"Client": client_info(), "Server": None}
    # Only ask the daemon when the output needs it: `version -f '{{.Client.Version}}'` is a
    # common "is the CLI installed" probe and should not depend on the daemon.
    error = None
    if not args.format or "Server" in args.format or args.format == "json" or "{{json .}}" in args.format:
        try:
            data["Server"] = client.get("/version")
        except (APIError, DaemonUnreachable) as err:
            error = str(err) if isinstance(err, DaemonUnreachable) else f"Error response from daemon: {err.message}"
    if args.format:
        try:
            sys.stdout.write(render_each(args.format, [data]))
        except TemplateError as err:
            raise CommandError(f"Template parsing error: {err}") from None
    else:
        sys.stdout.write(human(data))
    if error:
        raise CommandError(error)
    return 0


def human(data: dict[str, Any]) -> str:
    c = data["Client"]
    lines = ["Client:", f" Version:           {c['Version']}", f" API version:       {c['ApiVersion']}",
             f" Go version:        {c['GoVersion']}", f" Git commit:        {c['GitCommit']}",
             f" Built:             {c['BuildTime']}", f" OS/Arch:           {c['Os']}/{c['Arch']}",
             f" Context:           {c['Context']}"]
    server = data["Server"]
    if server:
        lines += ["", f"Server: {(server.get('Platform') or {}).get('Name', '')}".rstrip()]
        for comp in server.get("Components") or [{"Name": "Engine", "Version": server.get("Version"),
                                                  "Details": {}}]:
            details = comp.get("Details") or {}
            lines.append(f" {comp.get('Name')}:")
            lines.append(f"  Version:          {comp.get('Version')}")
            if comp.get("Name") == "Engine":
                lines += [f"  API version:      {server.get('ApiVersion')} (minimum version {server.get('MinAPIVersion')})",
                          f"  Go version:       {server.get('GoVersion')}",
                          f"  Git commit:       {server.get('GitCommit')}",
                          f"  Built:            {server.get('BuildTime')}",
                          f"  OS/Arch:          {server.get('Os')}/{server.get('Arch')}",
                          f"  Experimental:     {str(server.get('Experimental', False)).lower()}"]
            else:
                lines += [f"  {k}:{' ' * max(1, 16 - len(k))}{v}" for k, v in details.items()]
    return "\n".join(lines) + "\n"
