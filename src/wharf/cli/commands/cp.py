"""``wharf cp`` / ``wharf container cp``: copy files between a container and the host.

The daemon keeps every path inside the container's root; this side keeps
the archive from the container (hostile: it may hold ``x -> /etc`` followed
by ``x/passwd``) inside the host destination: no ``..``, no absolute names,
never a write through a symlink, whatever the order of the entries.
"""

from __future__ import annotations

import os
import sys
from typing import Any

from wharf.cli.errors import CommandError
from wharf.client.http import Client

USAGE = "[OPTIONS] CONTAINER:SRC_PATH DEST_PATH|-\n\twharf cp [OPTIONS] SRC_PATH|- CONTAINER:DEST_PATH"
ALIASES = "wharf container cp, wharf cp"
STAT_HEADER = "x-docker-container-path-stat"


def add_arguments(parser: Any) -> None:
    parser.add_argument("-a", "--archive", action="store_true",
                        help="Archive mode (copy all uid/gid information)")
    parser.add_argument("-L", "--follow-link", action="store_true", dest="follow_link",
                        help="Always follow symbol link in SRC_PATH")
    parser.add_argument("-q", "--quiet", action="store_true",
                        help="Suppress progress output during copy")
    parser.add_argument("source", metavar="SRC_PATH")
    parser.add_argument("dest", metavar="DEST_PATH")


def split(arg: str) -> tuple[str, str]:
    """docker's splitCpArg: ("container", "path"), or ("", local path)."""
    if arg.startswith(("/", ".")) or ":" not in arg:
        return "", arg
    container, _, path = arg.partition(":")
    return container, path


def run(args: Any, client: Client) -> int:
    src_ctr, src = split(args.source)
    dst_ctr, dst = split(args.dest)
    if src_ctr and dst_ctr:
        raise CommandError("copying between containers is not supported")
    if not (src_ctr or dst_ctr):
        raise CommandError("must specify at least one container source")
    if src_ctr:
        copy_from(client, src_ctr, src, dst, args.follow_link)
    else:
        copy_to(client, src, dst_ctr, dst, args.follow_link, args.archive)
    return 0


def path_stat(client: Client, container: str, path: str) -> dict[str, Any] | None:
    import base64
    import json
    resp = client.receive(client.send("HEAD", f"/containers/{container}/archive", {"path": path}))
    resp.close()  # a HEAD answer has no body to read
    if resp.status == 404:
        return None
    if resp.status >= 400:
        raise CommandError(f"Error response from daemon: cannot stat {path} (HTTP {resp.status})")
    header = resp.headers.get(STAT_HEADER)
    return json.loads(base64.b64decode(header)) if header else None


# -- container -> host ---------------------------------------------------------

def copy_from(client: Client, container: str, src: str, dest: str, follow: bool) -> None:
    if follow:
        st = path_stat(client, container, src)
        if st and st.get("linkTarget"):
            src = st["linkTarget"]
    resp = client.request("GET", f"/containers/{container}/archive", {"path": src}, stream=True)
    if dest == "-":
        out = sys.stdout.buffer
        for chunk in resp.iter_chunks():
            out.write(chunk)
        out.flush()
        return
    if os.path.isdir(dest):
        root, rename = dest, None
    else:
        root, rename = os.path.dirname(os.path.abspath(dest)), os.path.basename(dest)
        if not os.path.isdir(root):
            raise CommandError(f'no such directory: "{root}"')
    extract(_Reader(resp), root, rename)


class _Reader:
    """A file-like view of a streamed response body, for tarfile's ``r|``."""

    def __init__(self, resp: Any) -> None:
        self.resp = resp
        self.buf = b""

    def read(self, n: int = -1) -> bytes:
        while n < 0 or len(self.buf) < n:
            chunk = self.resp.read_some()
            if not chunk:
                break
            self.buf += chunk
        if n < 0:
            n = len(self.buf)
        out, self.buf = self.buf[:n], self.buf[n:]
        return out


def _inside(root: str, path: str) -> bool:
    real_root = os.path.realpath(root)
    return os.path.commonpath([real_root, os.path.realpath(path)]) == real_root


def extract(fileobj: Any, root: str, rename: str | None) -> None:
    """Unpack into ``root``; the archive's top name becomes ``rename`` when given."""
    import tarfile
    with tarfile.open(fileobj=fileobj, mode="r|") as tar:
        for member in tar:
            parts = [p for p in member.name.split("/") if p not in ("", ".")]
            if ".." in parts or (not parts and not member.isdir()):
                raise CommandError(f"invalid archive entry: {member.name!r}")
            if rename and parts:
                parts[0] = rename
            if not parts:
                continue
            target = os.path.join(root, *parts)
            if not _inside(root, os.path.dirname(target)):
                raise CommandError(f"refusing to write {member.name!r} through a symbolic link")
            if os.path.islink(target) or (os.path.lexists(target) and not member.isdir()
                                          and not os.path.isdir(target)):
                os.unlink(target)
            if member.islnk():
                link = [p for p in member.linkname.split("/") if p not in ("", ".")]
                if ".." in link:
                    raise CommandError(f"invalid archive entry: {member.linkname!r}")
                if rename and link:
                    link[0] = rename
                member.linkname = "/".join(link)
            member.name = "/".join(parts)
            tar.extract(member, root, set_attrs=not member.issym())


# -- host -> container ---------------------------------------------------------

def copy_to(client: Client, src: str, container: str, dest: str, follow: bool,
            keep_owner: bool) -> None:
    if src == "-":
        body: Any = _chunks(sys.stdin.buffer)
        client.request("PUT", f"/containers/{container}/archive", {"path": dest}, body=body).close()
        return
    if not os.path.lexists(src):
        raise CommandError(f"lstat {os.path.abspath(src)}: no such file or directory")
    if follow:
        src = os.path.realpath(src)
    st = path_stat(client, container, dest)
    if st is not None and st["mode"] & (1 << 31):  # an existing directory: copy into it
        where, name = dest, os.path.basename(os.path.normpath(src))
    else:
        where, name = os.path.dirname(dest.rstrip("/")) or "/", os.path.basename(dest.rstrip("/"))
    if src.endswith("/.") and os.path.isdir(src):
        name = "."
    client.request("PUT", f"/containers/{container}/archive", {"path": where},
                   body=_tar_of(src, name, keep_owner)).close()


def _tar_of(src: str, name: str, keep_owner: bool) -> Any:
    """A tar stream (chunks) of ``src`` named ``name``; owned by root unless ``-a``."""
    import tarfile
    import tempfile
    spool = tempfile.TemporaryFile()

    def owner(info: Any) -> Any:
        if not keep_owner:
            info.uid = info.gid = 0
            info.uname = info.gname = ""
        return info

    with tarfile.open(fileobj=spool, mode="w", format=tarfile.PAX_FORMAT) as tar:
        tar.add(src, arcname=name, filter=owner)
    spool.seek(0)
    return _chunks(spool)


def _chunks(f: Any) -> Any:
    while chunk := f.read(1 << 20):
        yield chunk
