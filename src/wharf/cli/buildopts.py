"""``wharf build``'s BuildKit options: ``--secret``, ``--ssh``, ``--allow``, ``--build-context``, ``--output``.

Secrets and ssh agents travel in wharf's ``X-Wharf-Build-Session`` header
(Docker's classic ``/build`` API has no field for them); ``--output`` is
done by the CLI itself once the image is built, from the daemon's tar of
the image's filesystem (``GET /wharf/images/{id}/rootfs``), so the daemon
never writes into a client's directory.
"""

from __future__ import annotations

import base64
import os
import stat
from typing import Any, NamedTuple

from wharf.cli.errors import CommandError
from wharf.client import jsonio


def _fields(spec: str) -> list[tuple[str, str]]:
    out = []
    for field in spec.split(","):
        key, eq, value = field.partition("=")
        out.append((key.strip().lower(), value if eq else ""))
    return out


def secret(spec: str) -> tuple[str, bytes]:
    """``id=x[,src=FILE|,env=VAR][,type=file|env]`` (buildx's form): (id, value)."""
    sid = src = env = kind = ""
    for key, value in _fields(spec):
        if key == "id":
            sid = value
        elif key in ("src", "source"):
            src = value
        elif key == "env":
            env = value
        elif key == "type":
            if value not in ("file", "env"):
                raise CommandError(f"unsupported secret type {value!r}")
            kind = value
        else:
            raise CommandError(f"unexpected key '{key}' in '{spec}'")
    if kind == "env" and src and not env:
        env, src = src, ""
    if not sid:
        raise CommandError(f"invalid secret {spec!r}: id is required")
    if not src and not env:
        if os.environ.get(sid) is None:
            src = sid
        else:
            env = sid
    if env:
        value = os.environ.get(env)
        if value is None:
            raise CommandError(f"secret {sid}: environment variable {env} is not set")
        return sid, value.encode()
    try:
        with open(src, "rb") as f:
            return sid, f.read()
    except OSError as e:
        raise CommandError(f"failed to read secret {sid}: open {src}: {(e.strerror or str(e)).lower()}") from None


def ssh(spec: str) -> tuple[str, str]:
    """``default``, ``default=SOCKET`` or ``id=SOCKET``: (id, agent socket path)."""
    sid, _, path = spec.partition("=")
    path = path.split(",")[0] or (os.environ.get("SSH_AUTH_SOCK", "") if sid == "default" else "")
    if not path:
        raise CommandError("invalid empty ssh agent socket: make sure SSH_AUTH_SOCK is set")
    path = os.path.abspath(path)
    try:
        is_socket = stat.S_ISSOCK(os.stat(path).st_mode)
    except OSError as e:
        raise CommandError(f"failed to read ssh agent {sid}: stat {path}: {(e.strerror or str(e)).lower()}") from None
    if not is_socket:
        raise CommandError(f"{path} is not a socket: wharf forwards ssh agent sockets only, not key files")
    return sid, path


def build_contexts(specs: list[str] | None) -> tuple[dict[str, str], dict[str, str]]:
    """``--build-context name=DIR|docker-image://REF``: (what the daemon is told, local dirs to send)."""
    told: dict[str, str] = {}
    local: dict[str, str] = {}
    for spec in specs or []:
        name, eq, value = spec.partition("=")
        if not eq or not name or not value:
            raise CommandError(f"invalid context value: {spec}, expected key=value")
        if value.startswith("docker-image://"):
            told[name] = value
        elif "://" in value:
            raise CommandError(f"unsupported build context {value}: use a directory or docker-image://")
        elif not os.path.isdir(value):
            raise CommandError(f'unable to prepare context: path "{value}" not found')
        else:
            told[name], local[name] = "local", value
    return told, local


def session_header(args: Any, contexts: dict[str, str]) -> str:
    """The ``X-Wharf-Build-Session`` value, or "" when nothing is lent."""
    secrets = dict(secret(s) for s in args.secret or [])
    agents = dict(ssh(s) for s in args.ssh or [])
    allow = [a for spec in args.allow or [] for a in spec.split(",") if a]
    if not (secrets or agents or allow or contexts):
        return ""
    doc = {"secrets": {k: base64.b64encode(v).decode() for k, v in secrets.items()}, "ssh": agents, "allow": allow,
           "contexts": contexts}
    return base64.urlsafe_b64encode(jsonio.dumps(doc)).decode()


class Output(NamedTuple):
    kind: str  # "local" | "tar"
    dest: str  # a directory, a file, or "-" (stdout)


def output(specs: list[str] | None) -> Output | None:
    """``-o DIR``, ``-o -``, ``type=local,dest=DIR``, ``type=tar,dest=FILE``; None: the image."""
    if not specs:
        return None
    if len(specs) > 1:
        raise CommandError("multiple outputs are not supported")
    spec = specs[0]
    if "=" not in spec:
        return Output("tar", "-") if spec == "-" else Output("local", spec)
    fields = dict(_fields(spec))
    kind, dest = fields.pop("type", ""), fields.pop("dest", "")
    if kind in ("docker", "image", "moby"):
        return None
    if kind not in ("local", "tar"):
        raise CommandError(f"output type {kind!r} is not supported: use local or tar")
    if not dest:
        raise CommandError(f"dest is required for {kind} exporter")
    if kind == "local" and dest == "-":
        raise CommandError("tar exporter must be used with dest=-, not local")
    return Output(kind, dest)


class _Body:
    def __init__(self, resp: Any) -> None:
        self.resp = resp

    def read(self, n: int = 65536) -> bytes:
        return self.resp.read_some(n)


def export(client: Any, image_id: str, out: Output) -> None:
    """Write the built image's filesystem where ``--output`` said."""
    resp = client.request("GET", f"/wharf/images/{image_id}/rootfs", stream=True)
    if out.kind == "tar":
        from wharf.cli.commands.save import write_body
        write_body(resp, "" if out.dest == "-" else out.dest)
        return
    import tarfile
    os.makedirs(out.dest, exist_ok=True)
    dest = os.path.realpath(out.dest)
    with tarfile.open(fileobj=_Body(resp), mode="r|") as tar:  # type: ignore[arg-type]
        for member in tar:
            # Never outside DEST: no absolute or ".." names, no parent that is a symlink
            # out, no hard link to a file outside.
            names = [member.name] + ([member.linkname] if member.islnk() else [])
            for name in names:
                parent = os.path.realpath(os.path.join(dest, os.path.dirname(name)))
                if name.startswith("/") or ".." in name.split("/") or \
                        os.path.commonpath([dest, parent]) != dest:
                    raise CommandError(f"refusing to write {member.name!r} outside {out.dest}")
            tar.extract(member, dest, set_attrs=True)
