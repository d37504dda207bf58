"""The docker CLI's context store, so ``docker context`` and ``wharf context``
see the same endpoints.

Its layout (docker/cli ``cli/context/store``), under ``$DOCKER_CONFIG``
(default ``~/.docker``): ``contexts/meta/<sha256 of the name>/meta.json`` holds
``{"Name", "Metadata": {"Description"}, "Endpoints": {"docker": {"Host",
"SkipTLSVerify"}}}``, ``contexts/tls/<same>/docker/`` its TLS files, and
``config.json``'s ``currentContext`` names the one in use. ``default`` is
not stored: it is DOCKER_HOST, or the default socket.

Which context a command uses is docker's rule (``resolveContextName``): an
explicit ``-H`` or DOCKER_HOST mean ``default``; else DOCKER_CONTEXT; else
``currentContext``. Only when that names a stored context is anything read,
so a command run with DOCKER_HOST set (every test, most scripts) reads no file.
A context's TLS material (``ca.pem``, ``cert.pem``, ``key.pem``) is used as docker uses it.
"""

from __future__ import annotations

import os
import sys
TYPE_CHECKING = False  # typing costs the CLI ~6 ms of import time
if TYPE_CHECKING:
    from typing import Any

from wharf.cli import credentials
from wharf.client import jsonio

DEFAULT = "default"
DEFAULT_DESCRIPTION = "Current DOCKER_HOST based configuration"


class ContextError(Exception):
    """A context that cannot be made, found or removed; the message is docker's."""


def _root() -> str:
    return os.path.join(credentials.config_dir(), "contexts")


def _digest(name: str) -> str:
    import hashlib
    return hashlib.sha256(name.encode()).hexdigest()


def meta_dir(name: str) -> str:
    return os.path.join(_root(), "meta", _digest(name))


def tls_dir(name: str) -> str:
    return os.path.join(_root(), "tls", _digest(name))


def validate_name(name: str) -> None:
    """docker/cli's ValidateContextName."""
    import re
    if not name:
        raise ContextError("context name cannot be empty")
    if name == DEFAULT:
        raise ContextError('"default" is a reserved context name')
    if not re.match(r"^[a-zA-Z0-9][a-zA-Z0-9_.+-]+$", name):
        raise ContextError(f'context name "{name}" is invalid, names are validated against '
                           "regexp \"^[a-zA-Z0-9][a-zA-Z0-9_.+-]+$\"")


def default_host() -> str:
    from wharf.client.http import default_host
    return default_host()


def default_context() -> dict[str, Any]:
    return {"Name": DEFAULT, "Metadata": {"Description": DEFAULT_DESCRIPTION},
            "Endpoints": {"docker": {"Host": default_host(), "SkipTLSVerify": False}}}


def get(name: str) -> dict[str, Any]:
    """A context's meta.json (``default`` made up); ContextError when there is none."""
    if name == DEFAULT:
        return default_context()
    try:
        with open(os.path.join(meta_dir(name), "meta.json"), "rb") as f:
            return jsonio.loads(f.read())
    except FileNotFoundError:
        raise ContextError(f'context "{name}" does not exist') from None


def names() -> list[str]:
    """Every stored context's name (``default`` not included)."""
    base = os.path.join(_root(), "meta")
    out = []
    for entry in sorted(os.listdir(base)) if os.path.isdir(base) else []:
        try:
            with open(os.path.join(base, entry, "meta.json"), "rb") as f:
                out.append(jsonio.loads(f.read())["Name"])
        except (OSError, ValueError, KeyError):
            continue
    return sorted(out)


def create(name: str, description: str, host: str, skip_tls_verify: bool = False,
           tls_files: dict[str, str] | None = None) -> None:
    """Store a new context; ``tls_files`` maps ca.pem/cert.pem/key.pem to files to copy."""
    from wharf.fsutil import write_atomic  # here: only create writes, every command may read
    validate_name(name)
    if os.path.exists(meta_dir(name)):
        raise ContextError(f'context "{name}" already exists')
    meta = {"Name": name, "Metadata": {"Description": description} if description else {},
            "Endpoints": {"docker": {"Host": host, "SkipTLSVerify": skip_tls_verify}}}
    os.makedirs(meta_dir(name), 0o755, exist_ok=True)
    write_atomic(os.path.join(meta_dir(name), "meta.json"), jsonio.dumps(meta), 0o644)
    for target, source in (tls_files or {}).items():
        with open(source, "rb") as f:
            data = f.read()
        os.makedirs(os.path.join(tls_dir(name), "docker"), 0o700, exist_ok=True)
        write_atomic(os.path.join(tls_dir(name), "docker", target), data, 0o600)


def remove(name: str, force: bool) -> None:
    if name == DEFAULT:
        raise ContextError('default: context "default" cannot be removed')
    get(name)
    if current() == name:
        if not force:
            raise ContextError(f'failed to remove context {name}: failed to remove metadata: '
                               f'context "{name}" is in use, set -f flag to force remove')
        use(DEFAULT)
    import shutil
    shutil.rmtree(meta_dir(name))
    shutil.rmtree(tls_dir(name), ignore_errors=True)


def current() -> str:
    """config.json's ``currentContext`` (``default`` when unset). A config.json
    that is not JSON is warned about and the default used, as docker does: every
    command reads this, and none may die of it."""
    try:
        return credentials.load().get("currentContext") or DEFAULT
    except credentials.CredentialsError as e:
        sys.stderr.write(f"WARNING: Error loading config file: {e}\n")
        return DEFAULT


def use(name: str) -> None:
    get(name)  # it must exist
    doc = credentials.load()
    if name == DEFAULT:
        doc.pop("currentContext", None)
    else:
        doc["currentContext"] = name
    credentials.save(doc)


def resolve(explicit: str | None, hosts: list[str] | None) -> str:
    """The context a command uses (docker's resolveContextName)."""
    if explicit:
        return explicit
    if hosts or os.environ.get("DOCKER_HOST"):
        return DEFAULT
    return os.environ.get("DOCKER_CONTEXT") or current()


def endpoint(name: str) -> tuple[str | None, Any]:
    """(daemon address, TLS context or None) of context ``name``; (None, None) for
    ``default`` (DOCKER_HOST and the TLS flags decide). As docker's: TLS when the
    context has TLS material or skips verification; the CA, when stored, is checked."""
    if name == DEFAULT:
        return None, None
    docker = get(name)["Endpoints"]["docker"]
    ca, cert, key = (os.path.join(tls_dir(name), "docker", f)
                     for f in ("ca.pem", "cert.pem", "key.pem"))
    skip = bool(docker.get("SkipTLSVerify"))
    if not skip and not any(os.path.exists(f) for f in (ca, cert, key)):
        return docker["Host"], None
    from wharf.client.tls import context  # a client certificate only when stored
    return docker["Host"], context(True, not skip and os.path.exists(ca), ca, cert, key)
