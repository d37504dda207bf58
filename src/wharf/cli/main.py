"""``wharf``: parse the global flags, find the command, run it, map errors to exit codes.

Command modules are imported only when their command runs (``wharf ps``
must not pay for ``run``'s tty code); each has ``add_arguments(parser)``
and ``run(args, client) -> int``, and optionally ``USAGE`` (the part after
the command name), ``INTERSPERSED = False`` (flags stop at the first
argument, as for ``run`` and ``exec``), ``ALIASES``.
"""

from __future__ import annotations

import os
import sys
TYPE_CHECKING = False  # typing costs the CLI ~6 ms of import time
if TYPE_CHECKING:
    from typing import Any

from wharf import API_VERSION, __version__
from wharf.cli.errors import CommandError
from wharf.cli.flags import REMAINDER, FlagSet, HelpRequested, UsageError

#: command -> (module in wharf.cli.commands, description as docker's --help has it)
COMMANDS: dict[str, tuple[str, str]] = {
    "run": ("run", "Create and run a new container from an image"),
    "exec": ("exec", "Execute a command in a running container"),
    "ps": ("ps", "List containers"),
    "images": ("images", "List images"),
    "version": ("version", "Show the Docker version information"),
    "info": ("info", "Display system-wide information"),
    "attach": ("attach", "Attach local standard input, output, and error streams to a running container"),
    "create": ("create", "Create a new container"),
    "events": ("events", "Get real time events from the server"),
    "inspect": ("inspect", "Return low-level information on Docker objects"),
    "kill": ("kill", "Kill one or more running containers"),
    "login": ("login", "Log in to a registry"),
    "logout": ("logout", "Log out from a registry"),
    "logs": ("logs", "Fetch the logs of a container"),
    "pause": ("pause", "Pause all processes within one or more containers"),
    "port": ("port", "List port mappings or a specific mapping for the container"),
    "registry": ("registry", "Run a registry server of wharf's own, or garbage-collect its storage"),
    "pull": ("pull", "Download an image from a registry"),
    "push": ("push", "Upload an image to a registry"),
    "rename": ("rename", "Rename a container"),
    "restart": ("restart", "Restart one or more containers"),
    "rm": ("rm", "Remove one or more containers"),
    "rmi": ("rmi", "Remove one or more images"),
    "start": ("start", "Start one or more stopped containers"),
    "stats": ("stats", "Display a live stream of container(s) resource usage statistics"),
    "stop": ("stop", "Stop one or more running containers"),
    "top": ("top", "Display the running processes of a container"),
    "unpause": ("unpause", "Unpause all processes within one or more containers"),
    "wait": ("wait", "Block until one or more containers stop, then print their exit codes"),
    "cp": ("cp", "Copy files/folders between a container and the local filesystem"),
    "commit": ("commit", "Create a new image from a container's changes"),
    "diff": ("diff", "Inspect changes to files or directories on a container's filesystem"),
    "export": ("export", "Export a container's filesystem as a tar archive"),
    "history": ("history", "Show the history of an image"),
    "import": ("import_", "Import the contents from a tarball to create a filesystem image"),
    "load": ("load", "Load an image from a tar archive or STDIN"),
    "save": ("save", "Save one or more images to a tar archive (streamed to STDOUT by default)"),
    "tag": ("tag", "Create a tag TARGET_IMAGE that refers to SOURCE_IMAGE"),
    "build": ("build", "Build an image from a Dockerfile"),
    "update": ("update", "Update configuration of one or more containers"),
}
COMMON = ("run", "exec", "ps", "images", "version", "info")

#: management command -> (description, {subcommand: (top-level command, preset flag values)})
MANAGEMENT: dict[str, tuple[str, dict[str, tuple[str, dict[str, Any]]]]] = {
    "container": ("Manage containers", {
        **{name: (name, {}) for name in (
            "attach", "create", "exec", "kill", "logs", "pause", "rename", "restart", "run",
            "start", "stats", "stop", "top", "unpause", "wait", "commit", "diff", "export",
            "cp", "update")},
        "prune": ("container prune", {}),
        "ls": ("ps", {}), "list": ("ps", {}), "ps": ("ps", {}),
        "rm": ("rm", {}), "remove": ("rm", {}),
        "inspect": ("inspect", {"type": "container"}),
    }),
    "image": ("Manage images", {
        "ls": ("images", {}), "list": ("images", {}), "pull": ("pull", {}), "push": ("push", {}),
        "rm": ("rmi", {}), "remove": ("rmi", {}),
        "inspect": ("image inspect", {}),
        "bootstrap": ("image bootstrap", {}),
        "build": ("build", {}),
        **{name: (name, {}) for name in ("history", "import", "load", "save", "tag")},
        "prune": ("image prune", {}),
        "check": ("image check", {}),
    }),
    "builder": ("Manage builds", {"build": ("build", {}), "prune": ("builder prune", {})}),
    "context": ("Manage contexts", {
        **{name: (f"context {name}", {}) for name in ("create", "inspect", "ls", "rm", "use")},
        "list": ("context ls", {}), "remove": ("context rm", {}),
    }),
    "system": ("Manage Docker", {"df": ("system df", {}), "prune": ("system prune", {})}),
    "volume": ("Manage volumes", {
        "create": ("volume create", {}), "inspect": ("volume inspect", {}),
        "ls": ("volume ls", {}), "list": ("volume ls", {}), "prune": ("volume prune", {}),
        "rm": ("volume rm", {}), "remove": ("volume rm", {}),
    }),
    "network": ("Manage networks", {
        "ls": ("network ls", {}), "list": ("network ls", {}),
        "rm": ("network rm", {}), "remove": ("network rm", {}),
        **{name: (f"network {name}", {})
           for name in ("inspect", "create", "prune", "connect", "disconnect")},
    }),
}
#: commands that exist only in management form
HIDDEN: dict[str, tuple[str, str]] = {
    "image inspect": ("image_inspect", "Display detailed information on one or more images"),
    "image bootstrap": ("image_bootstrap", "Create an image from the host's static binaries"),
    "image prune": ("image_prune", "Remove unused images"),
    "image check": ("image_check", "Verify every image and layer in the store against its digest"),
    "builder prune": ("builder_prune", "Remove build cache"),
    "system df": ("system_df", "Show docker disk usage"),
    "system prune": ("system_prune", "Remove unused data"),
    "context create": ("context_create", "Create a context"),
    "context inspect": ("context_inspect", "Display detailed information on one or more contexts"),
    "context ls": ("context_ls", "List contexts"),
    "context rm": ("context_rm", "Remove one or more contexts"),
    "context use": ("context_use", "Set the current docker context"),
    "container prune": ("container_prune", "Remove all stopped containers"),
    "volume create": ("volume_create", "Create a volume"),
    "volume inspect": ("volume_inspect", "Display detailed information on one or more volumes"),
    "volume ls": ("volume_ls", "List volumes"),
    "volume prune": ("volume_prune", "Remove unused local volumes"),
    "volume rm": ("volume_rm", "Remove one or more volumes"),
    "network ls": ("network_ls", "List networks"),
    "network inspect": ("network_inspect", "Display detailed information on one or more networks"),
    "network create": ("network_create", "Create a network"),
    "network rm": ("network_rm", "Remove one or more networks"),
    "network prune": ("network_prune", "Remove all unused networks"),
    "network connect": ("network_connect", "Connect a container to a network"),
    "network disconnect": ("network_disconnect", "Disconnect a container from a network"),
}
#: commands whose failures docker reports with 125 and "See '... --help'."
RUN_LIKE = ("run", "create", "start")


def _global_flags() -> FlagSet:
    top = FlagSet("wharf", "A self-sufficient runtime for containers",
                  usage="wharf [OPTIONS] COMMAND", interspersed=False)
    top.add_argument("--config", help="Location of client config files")
    top.add_argument("-c", "--context",
                     help='Name of the context to use to connect to the daemon (overrides '
                          'DOCKER_HOST env var and default context set with "docker context use")')
    top.add_argument("-D", "--debug", action="store_true", help="Enable debug mode")
    top.add_argument("-H", "--host", action="append", metavar="list",
                     help="Daemon socket to connect to")
    top.add_argument("-l", "--log-level", default="info",
                     help='Set the logging level ("debug", "info", "warn", "error", "fatal")')
    top.add_argument("--tls", action="store_true", help="Use TLS; implied by --tlsverify")
    top.add_argument("--tlscacert", default="", help="Trust certs signed only by this CA")
    top.add_argument("--tlscert", default="", help="Path to TLS certificate file")
    top.add_argument("--tlskey", default="", help="Path to TLS key file")
    top.add_argument("--tlsverify", action="store_true", help="Use TLS and verify the remote")
    top.add_argument("-v", "--version", action="store_true", help="Print version information and quit")
    top.add_argument("command", nargs=REMAINDER)
    return top


def main_help(top: FlagSet) -> str:
    """``wharf --help``: docker's sections, only the commands wharf has."""
    def rows(names: Any, describe: Any) -> str:
        return "\n".join(f"  {name:<11} {describe(name)}" for name in names)

    return (f"\nUsage:  {top.usage_line()}\n\n{top.description}\n\n"
            f"Common Commands:\n{rows(COMMON, lambda n: COMMANDS[n][1])}\n\n"
            f"Management Commands:\n{rows(sorted(MANAGEMENT), lambda n: MANAGEMENT[n][0])}\n\n"
            f"Commands:\n{rows(sorted(set(COMMANDS) - set(COMMON)), lambda n: COMMANDS[n][1])}\n\n"
            f"Global Options:\n{format_globals(top)}\n\n"
            "Run 'wharf COMMAND --help' for more information on a command.\n")


def format_globals(top: FlagSet) -> str:
    from wharf.cli.flags import format_flag_table
    return format_flag_table(top.flags)


def management_help(name: str) -> str:
    description, subs = MANAGEMENT[name]
    lines = "\n".join(f"  {sub:<10} {_describe(target)}" for sub, (target, _) in sorted(subs.items()))
    return (f"\nUsage:  wharf {name} COMMAND\n\n{description}\n\nCommands:\n{lines}\n\n"
            f"Run 'wharf {name} COMMAND --help' for more information on a command.\n")


def _describe(command: str) -> str:
    return (COMMANDS.get(command) or HIDDEN[command])[1]


def resolve(words: list[str]) -> tuple[str, str, dict[str, Any], list[str]]:
    """(invoked path, command, preset values, remaining argv) for the words after the globals."""
    name, rest = words[0], words[1:]
    if name in MANAGEMENT:
        subs = MANAGEMENT[name][1]
        if not rest or rest[0] in ("--help", "-h"):
            raise HelpRequested(management_help(name))
        if rest[0] not in subs:
            raise CommandError(f"wharf: '{name} {rest[0]}' is not a wharf command.\nSee 'wharf {name} --help'")
        target, preset = subs[rest[0]]
        return f"wharf {name} {rest[0]}", target, preset, rest[1:]
    if name not in COMMANDS:
        raise CommandError(f"wharf: '{name}' is not a wharf command.\nSee 'wharf --help'")
    return f"wharf {name}", name, {}, rest


def run_command(path: str, command: str, preset: dict[str, Any], argv: list[str],
                host: str | None, tls: Any = None) -> int:
    """Import the command's module, parse its flags, run it and map its errors to exit codes."""
    module_name, description = COMMANDS.get(command) or HIDDEN[command]
    module = __import__(f"wharf.cli.commands.{module_name}", fromlist=["run"])
    usage = getattr(module, "USAGE", None)
    parser = FlagSet(path, description, usage=f"{path} {usage}" if usage else None,
                     interspersed=getattr(module, "INTERSPERSED", True),
                     aliases=getattr(module, "ALIASES", ""))
    module.add_arguments(parser)
    try:
        args = parser.parse_args(argv)
    except HelpRequested:
        sys.stdout.write(parser.format_help())
        return 0
    except UsageError as err:
        sys.stderr.write(parser.error_text(err))
        return err.status
    for key, value in preset.items():
        setattr(args, key, value)
    from wharf.client.http import APIError, Client, DaemonUnreachable, StreamError
    try:
        return module.run(args, Client(host, tls=tls)) or 0
    except (DaemonUnreachable, StreamError) as err:  # a cut stream: docker's "unexpected EOF"
        sys.stderr.write(f"{err}\n")
        return 1
    except APIError as err:
        if command in RUN_LIKE:
            sys.stderr.write(f"wharf: Error response from daemon: {err.message}\n"
                             f"See '{path} --help'.\n")
            return 125
        sys.stderr.write(f"Error response from daemon: {err.message}\n")
        return 1


def _tls(opts: Any) -> Any:
    """The TLS context the global flags ask for (None: DOCKER_TLS_VERIFY decides)."""
    if not (opts.tls or opts.tlsverify or opts.tlscacert or opts.tlscert or opts.tlskey):
        return None
    from wharf.client.tls import context
    return context(opts.tls, opts.tlsverify or None, opts.tlscacert, opts.tlscert, opts.tlskey)


def _context_endpoint(explicit: str | None) -> tuple[str | None, Any]:
    """(daemon, TLS context) of the context in use (``wharf.cli.contexts``); (None,
    None) for ``default``. With DOCKER_HOST set and no ``--context`` nothing is read
    (the common path)."""
    if not explicit and os.environ.get("DOCKER_HOST"):
        return None, None
    from wharf.cli import contexts
    try:
        return contexts.endpoint(contexts.resolve(explicit, None))
    except (contexts.ContextError, OSError, ValueError) as e:
        raise CommandError(f"wharf: {e}", 1) from None


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    top = _global_flags()
    try:
        opts = top.parse_args(argv)
        if opts.version:
            sys.stdout.write(f"Wharf version {__version__}, API {API_VERSION}\n")
            return 0
        if not opts.command:
            raise HelpRequested(main_help(top))
        if opts.config:
            os.environ["DOCKER_CONFIG"] = opts.config
        host, tls = (opts.host[-1], None) if opts.host else _context_endpoint(opts.context)
        path, command, preset, rest = resolve(opts.command)
        return run_command(path, command, preset, rest, host, _tls(opts) or tls)
    except HelpRequested as help_:
        sys.stdout.write(help_.args[0] if help_.args else main_help(top))
        return 0
    except UsageError as err:
        sys.stderr.write(top.error_text(err))
        return err.status
    except CommandError as err:
        sys.stderr.write(err.message.rstrip("\n") + "\n")
        return err.status
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        sys.stderr.close()
        return 1


if __name__ == "__main__":
    sys.exit(main())
