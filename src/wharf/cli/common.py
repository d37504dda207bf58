"""Pieces several commands share: per-container loops, format flags, exit codes, attaching."""

from __future__ import annotations

import sys
TYPE_CHECKING = False  # typing costs the CLI ~6 ms of import time
if TYPE_CHECKING:
    from typing import Any, Callable

from wharf.client.http import APIError, Client

FORMAT_HELP = ("Format output using a custom template: 'table': Print output in table format "
               "with column headers (default) 'table TEMPLATE': Print output in table format "
               "using the given Go template 'json': Print in JSON format 'TEMPLATE': Print "
               "output using the given Go template.")
TEMPLATE_HELP = ("Format output using a custom template: 'json': Print in JSON format "
                 "'TEMPLATE': Print output using the given Go template.")


def add_format(parser: Any, table: bool = True, short: bool = False) -> None:
    """The ``--format`` flag with docker's help text (``-f`` too for inspect/version)."""
    names = ("-f", "--format") if short else ("--format",)
    parser.add_argument(*names, dest="format", default="",
                        help=FORMAT_HELP if table else TEMPLATE_HELP)


def add_prune_flags(parser: Any, example: str | None) -> None:
    """``--filter`` (with docker's example, when the command takes filters) and ``-f``."""
    if example:
        parser.add_argument("--filter", action="append", metavar="filter",
                            help=f'Provide filter values (e.g. "{example}")')
    parser.add_argument("-f", "--force", action="store_true", help="Do not prompt for confirmation")


def confirm(warning: str, force: bool) -> bool:
    """Docker's prompt before a prune; anything but y/Y (or no answer) is no."""
    if force:
        return True
    sys.stdout.write(f"{warning}\nAre you sure you want to continue? [y/N] ")
    sys.stdout.flush()
    return sys.stdin.readline().strip().lower() == "y"


def add_filter(parser: Any) -> None:
    parser.add_argument("-f", "--filter", action="append", metavar="filter",
                        help="Filter output based on conditions provided")


def filters_param(specs: list[str]) -> dict[str, list[str]] | None:
    """``-f status=exited -f name=x`` → the API's ``filters`` JSON (``{"status": ["exited"]}``)."""
    from wharf.cli.errors import CommandError
    out: dict[str, list[str]] = {}
    for spec in specs or []:
        key, eq, value = spec.partition("=")
        if not eq:
            raise CommandError(f"invalid argument \"{spec}\" for \"-f, --filter\" flag: bad format of filter (expected name=value)", 125)
        out.setdefault(key.strip().lower(), []).append(value)
    return out or None


def for_each(names: list[str], action: Callable[[str], Any], show_result: bool = False) -> int:
    """Docker's loop for stop/kill/rm/wait: per name, print it (or the action's result) or its error.

    Errors go to stderr as they come; the exit code is 1 if any failed.
    """
    failed = False
    for name in names:
        try:
            result = action(name)
        except APIError as err:
            sys.stderr.write(f"Error response from daemon: {err.message}\n")
            failed = True
            continue
        sys.stdout.write(f"{result if show_result else name}\n")
        sys.stdout.flush()
    return 1 if failed else 0


def start_error_status(message: str) -> int:
    """Exit code when a container's command could not start (docker's run.go mapping)."""
    if "executable file not found" in message or "no such file or directory" in message:
        return 127
    if "permission denied" in message or "is a directory" in message:
        return 126
    return 125


def run_error(message: str, command: str, status: int = 125) -> Any:
    """A CommandError worded as docker's run/create/start failures."""
    from wharf.cli.errors import CommandError
    return CommandError(f"wharf: Error response from daemon: {message}\nSee '{command} --help'.", status)


def short_id(cid: str, no_trunc: bool = False) -> str:
    cid = cid.split(":", 1)[-1]
    return cid if no_trunc else cid[:12]


def attach_and_pump(client: Client, cid: str, tty: bool, stdin: bool, stdout: bool, stderr: bool,
                    detach_keys: str | None, before_pump: Callable[[], None] | None = None,
                    sig_proxy: bool = False) -> bool:
    """Attach to ``cid``, run ``before_pump`` (e.g. start it), then pump until output ends.

    Returns True when the user detached. Shared by run, start -a and attach.
    """
    conn = client.hijack("POST", f"/containers/{cid}/attach",
                         {"stream": 1, "stdin": stdin, "stdout": stdout, "stderr": stderr,
                          "detachKeys": detach_keys})
    try:
        if before_pump is not None:
            before_pump()
        kill = (lambda n: kill_quietly(client, cid, n)) if sig_proxy and not tty else None
        return interact(client, conn, f"/containers/{cid}/resize", tty, stdin, detach_keys, kill)
    finally:
        conn.close()


def interact(client: Client, conn: Any, resize_path: str, tty: bool, stdin: bool,
             detach_keys: str | None, kill: Callable[[int], None] | None = None) -> bool:
    """The terminal session on a hijacked stream: size, raw mode, signals, the pump.

    Returns True when the user detached.
    """
    from wharf.cli import tty as term
    keys = term.parse_detach_keys(detach_keys or term.DEFAULT_DETACH_KEYS)
    resize = (lambda h, w: resize_quietly(client, resize_path, h, w)) if tty else None
    if resize is not None and (size := term.terminal_size(1) or term.terminal_size(0)):
        resize(*size)
    undo = []
    try:
        if tty and stdin:
            undo.append(term.raw_terminal(0))
        if kill:
            undo.append(term.forward_signals(kill))
        return term.pump(conn, stdin=stdin, tty=tty, detach_keys=keys, on_resize=resize)
    finally:
        for step in reversed(undo):
            step()


def resize_quietly(client: Client, path: str, height: int, width: int) -> None:
    """A resize the daemon refuses (container gone) is not worth an error."""
    try:
        client.request("POST", path, {"h": height, "w": width})
    except (APIError, OSError):
        pass


def kill_quietly(client: Client, cid: str, signum: int) -> None:
    try:
        client.request("POST", f"/containers/{cid}/kill", {"signal": signum})
    except (APIError, OSError):
        pass


def post_each(action: str) -> Callable[[Any, Client], int]:
    """The ``run`` of stop/restart/kill/pause/unpause: POST /containers/{name}/{action} per name.

    ``-t`` and ``-s`` become the ``t`` and ``signal`` parameters where the
    command has them.
    """
    def run(args: Any, client: Client) -> int:
        params = {"t": getattr(args, "timeout", None), "signal": getattr(args, "signal", None)}
        return for_each(args.containers,
                        lambda name: client.request("POST", f"/containers/{name}/{action}", params))
    return run
