"""Registry credentials in docker's client config (``$DOCKER_CONFIG/config.json``).

The same file and format as the docker CLI, so one login serves both: the
``auths`` map holds ``{"auth": base64("user:password")}`` (or an
``identitytoken``) per registry; when ``credHelpers`` names a helper for a
registry, or ``credsStore`` one for all, the secret lives with
``docker-credential-<helper>`` (its ``get``/``store``/``erase`` protocol)
instead and ``auths`` only lists the registry. Docker Hub's key is the old
index address ``https://index.docker.io/v1/``; others are ``host[:port]``.
The daemon gets the credentials as the base64url JSON ``X-Registry-Auth``.
"""

from __future__ import annotations

import base64
import json
import os
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

INDEX_SERVER = "https://index.docker.io/v1/"
_HUB_NAMES = ("docker.io", "index.docker.io", "registry-1.docker.io")
_TOKEN_USER = "<token>"  # a helper's username for an identity token
_VERBS = {"get": "getting", "store": "storing", "erase": "erasing"}


class CredentialsError(Exception):
    """A credential helper failed (not: the registry has no credentials)."""


def config_dir() -> str:
    return os.environ.get("DOCKER_CONFIG") or os.path.join(os.path.expanduser("~"), ".docker")


def config_path() -> str:
    return os.path.join(config_dir(), "config.json")


def server_key(address: str) -> str:
    """The config key of a registry: Docker Hub's index address, else ``host[:port]``."""
    host = address.strip()
    for prefix in ("https://", "http://"):
        host = host.removeprefix(prefix)
    host = host.split("/", 1)[0]
    return INDEX_SERVER if not host or host in _HUB_NAMES else host


def registry_of(image: str) -> str:
    """The config key of the registry an image reference lives in."""
    first, sep, _ = image.partition("/")
    if sep and ("." in first or ":" in first or first == "localhost"):
        return server_key(first)
    return INDEX_SERVER


def load() -> dict[str, Any]:
    try:
        with open(config_path()) as f:
            doc = json.load(f)
    except FileNotFoundError:
        return {}
    except ValueError as e:
        raise CredentialsError(f"{config_path()}: invalid JSON: {e}") from None
    return doc if isinstance(doc, dict) else {}


def save(doc: dict[str, Any]) -> None:
    """Atomically, readable by its owner only (it may hold passwords)."""
    import tempfile  # here: every build and pull reads the file, only login writes it

    os.makedirs(config_dir(), 0o700, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=config_dir(), prefix=".config.json.")
    try:
        with os.fdopen(fd, "w") as f:
            json.dump(doc, f, indent="\t")
        os.rename(tmp, config_path())
    except BaseException:
        os.unlink(tmp)
        raise


def _helper(doc: dict[str, Any], key: str) -> str | None:
    return (doc.get("credHelpers") or {}).get(key) or doc.get("credsStore") or None


def _run_helper(helper: str, action: str, data: str) -> str | None:
    """Run ``docker-credential-<helper> <action>``; None when it knows no such credentials."""
    import subprocess  # here: most configs name no helper, and every build and pull reads them

    try:
        proc = subprocess.run([f"docker-credential-{helper}", action], input=data, text=True,
                              capture_output=True, timeout=60)
    except FileNotFoundError:
        raise CredentialsError(f'error getting credentials - err: exec: "docker-credential-{helper}": '
                               "executable file not found in $PATH") from None
    if proc.returncode != 0:
        message = (proc.stdout or proc.stderr).strip()
        if "credentials not found" in message:
            return None
        raise CredentialsError(f"error {_VERBS[action]} credentials - err: {message}")
    return proc.stdout


def _entry_key(auths: dict[str, Any], key: str) -> str | None:
    """The key under which ``auths`` lists ``key`` (entries may carry a scheme or a path)."""
    return next((k for k in auths if server_key(k) == server_key(key)), None)


def get(address: str) -> dict[str, str]:
    """The auth config for a registry (``{}`` when there are no credentials)."""
    doc = load()
    key = server_key(address)
    helper = _helper(doc, key)
    if helper:
        out = _run_helper(helper, "get", key)
        if not out:
            return {}
        found = json.loads(out)
        if found.get("Username") == _TOKEN_USER:
            return {"identitytoken": found.get("Secret", ""), "serveraddress": key}
        return {"username": found.get("Username", ""), "password": found.get("Secret", ""), "serveraddress": key}
    auths = doc.get("auths") or {}
    entry = auths.get(_entry_key(auths, key) or "") or {}
    out = {"serveraddress": key}
    if entry.get("auth"):
        user, _, password = base64.b64decode(entry["auth"]).decode().partition(":")
        out.update(username=user, password=password)
    if entry.get("identitytoken"):
        out["identitytoken"] = entry["identitytoken"]
    return out if len(out) > 1 else {}


def store(address: str, username: str, password: str, identity_token: str = "") -> bool:
    """Save credentials; True when they went into the file in plain text (docker warns then)."""
    doc = load()
    key = server_key(address)
    helper = _helper(doc, key)
    auths = doc.setdefault("auths", {})
    old = _entry_key(auths, key)
    if old is not None:
        del auths[old]
    if helper:
        secret = {"ServerURL": key, "Username": _TOKEN_USER if identity_token else username,
                  "Secret": identity_token or password}
        _run_helper(helper, "store", json.dumps(secret))
        auths[key] = {}
    else:
        entry = {"auth": base64.b64encode(f"{username}:{password}".encode()).decode()}
        if identity_token:
            entry = {"auth": base64.b64encode(f"{username}:".encode()).decode(), "identitytoken": identity_token}
        auths[key] = entry
    save(doc)
    return not helper


def erase(address: str) -> bool:
    """Forget a registry's credentials; False when there were none."""
    doc = load()
    key = server_key(address)
    auths = doc.get("auths") or {}
    old = _entry_key(auths, key)
    helper = _helper(doc, key)
    if helper:
        if _run_helper(helper, "get", key) is None and old is None:
            return False
        _run_helper(helper, "erase", key)
    elif old is None:
        return False
    if old is not None:
        del auths[old]
        save(doc)
    return True


def registry_config() -> str:
    """``X-Registry-Config`` (what ``docker build`` sends): the auth config of every
    registry the config file or its helpers know, by address; one a helper fails for
    is left out rather than failing the build."""
    doc = load()
    auths = {}
    for key in {*(doc.get("auths") or {}), *(doc.get("credHelpers") or {})}:
        try:
            auth = get(key)
        except CredentialsError:
            continue
        if auth:
            auths[key] = auth
    return header(auths)


def header(auth: dict) -> str:
    """``X-Registry-Auth``: base64url of the auth config's JSON (``{}`` when anonymous)."""
    return base64.urlsafe_b64encode(json.dumps(auth).encode()).decode()
