"""``wharf login``: check credentials with a registry (through the daemon), then save them."""

from __future__ import annotations

import sys
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

from wharf.cli.errors import CommandError

USAGE = "[OPTIONS] [SERVER]"
PLAINTEXT_WARNING = ("WARNING! Your password will be stored unencrypted in {path}.\n"
                     "Configure a credential helper to remove this warning. See\n"
                     "https://docs.docker.com/engine/reference/commandline/login/#credentials-store\n\n")


def add_arguments(parser: Any) -> None:
    parser.add_argument("-u", "--username", default="", help="Username")
    parser.add_argument("-p", "--password", default="", help="Password")
    parser.add_argument("--password-stdin", action="store_true", help="Take the password from stdin")
    parser.add_argument("server", nargs="?", default="", metavar="SERVER")


def _read_credentials(args: Any, stored: dict[str, str]) -> tuple[str, str]:
    username, password = args.username, args.password
    if args.password and args.password_stdin:
        raise CommandError("--password and --password-stdin are mutually exclusive")
    if args.password_stdin:
        if not username:
            raise CommandError("Must provide --username with --password-stdin")
        password = sys.stdin.read().rstrip("\r\n")
    elif password:
        sys.stderr.write("WARNING! Using --password via the CLI is insecure. Use --password-stdin.\n")
    if username and password:
        return username, password
    if not sys.stdin.isatty():
        raise CommandError("Error: Cannot perform an interactive login from a non TTY device")
    import getpass
    if not username:
        default = stored.get("username", "")
        username = input(f"Username ({default}): " if default else "Username: ").strip() or default
    if not username:
        raise CommandError("Error: Non-null Username Required")
    password = password or getpass.getpass("Password: ")
    if not password:
        raise CommandError("Error: Password Required")
    return username, password


def run(args: Any, client: Any) -> int:
    from wharf.cli import credentials
    server = credentials.server_key(args.server or credentials.INDEX_SERVER)
    try:
        stored = credentials.get(server)
    except credentials.CredentialsError:
        stored = {}
    username, password = _read_credentials(args, stored)
    answer = client.json("POST", "/auth", body={"username": username, "password": password,
                                                "serveraddress": server})
    try:
        plain = credentials.store(server, username, password, (answer or {}).get("IdentityToken", ""))
    except (credentials.CredentialsError, OSError) as err:
        raise CommandError(f"Error saving credentials: {err}") from None
    if plain:
        sys.stderr.write(PLAINTEXT_WARNING.format(path=credentials.config_path()))
    sys.stdout.write(f"{(answer or {}).get('Status') or 'Login Succeeded'}\n")
    return 0
