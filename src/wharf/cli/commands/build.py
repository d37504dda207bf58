"""``wharf build``: send a context to ``POST /build`` and show Docker's classic output.

The context tar is planned by ``wharf.build.context`` (headers built, size
known) and sent with a Content-Length, each file's data by ``sendfile``
straight from the file, so a large context is never copied through Python. ``-f`` names a Dockerfile relative to the current directory (as
docker does); one outside the context, or ``-f -`` (stdin), travels inside
the tar under a random name.
"""

from __future__ import annotations

import os
import sys
from typing import TYPE_CHECKING, Any

from wharf.cli.commands.pull import status_line
from wharf.cli.errors import CommandError
from wharf.cli.units import human_size
from wharf.client.http import Client, Response, encode_query, quote

if TYPE_CHECKING:
    from wharf.build.context import ContextTar

USAGE = "[OPTIONS] PATH"
ALIASES = "wharf image build, wharf build, wharf builder build"


def add_arguments(parser: Any) -> None:
    parser.add_argument("--add-host", action="append", metavar="list",
                        help="Add a custom host-to-IP mapping (host:ip)")
    parser.add_argument("--allow", action="append", metavar="list",
                        help="Allow extra privileged entitlement (e.g., \"network.host\", \"security.insecure\")")
    parser.add_argument("--build-arg", action="append", metavar="list", help="Set build-time variables")
    parser.add_argument("--build-context", action="append", metavar="stringArray",
                        help="Additional build contexts (e.g., name=path)")
    parser.add_argument("--cache-from", action="append", metavar="strings",
                        help="Images to consider as cache sources")
    parser.add_argument("-f", "--file", default="", metavar="string",
                        help="Name of the Dockerfile (Default is 'PATH/Dockerfile')")
    parser.add_argument("--force-rm", action="store_true", help="Always remove intermediate containers")
    parser.add_argument("--iidfile", default="", metavar="string", help="Write the image ID to the file")
    parser.add_argument("--label", action="append", metavar="list", help="Set metadata for an image")
    parser.add_argument("--network", default="", metavar="string",
                        help="Set the networking mode for the RUN instructions during build")
    parser.add_argument("--no-cache", action="store_true", help="Do not use cache when building the image")
    parser.add_argument("-o", "--output", action="append", metavar="stringArray",
                        help='Output destination (format: "type=local,dest=path")')
    parser.add_argument("-q", "--quiet", action="store_true",
                        help="Suppress the build output and print image ID on success")
    parser.add_argument("--rm", action="store_true", default=True,
                        help="Remove intermediate containers after a successful build")
    parser.add_argument("--secret", action="append", metavar="stringArray",
                        help='Secret to expose to the build (format: "id=mysecret[,src=/local/secret]")')
    parser.add_argument("--ssh", action="append", metavar="stringArray",
                        help='SSH agent socket to expose to the build (format: "default|<id>[=<socket>]")')
    parser.add_argument("-t", "--tag", action="append", metavar="list",
                        help="Name and optionally a tag in the 'name:tag' format")
    parser.add_argument("--target", default="", metavar="string", help="Set the target build stage to build.")
    parser.add_argument("path", metavar="PATH")


def _key_values(items: list[str] | None, from_env: bool) -> dict[str, str | None]:
    """``k=v`` pairs; a bare ``k`` takes the environment's value (build args) or ""."""
    out: dict[str, str | None] = {}
    for item in items or []:
        key, eq, value = item.partition("=")
        out[key] = value if eq else (os.environ.get(key) if from_env else "")
    return out


def _dockerfile(args: Any, context_dir: str) -> tuple[str | None, bytes | None]:
    """(name inside the context, or content to send along)."""
    if args.file == "-":
        return None, sys.stdin.buffer.read()
    if not args.file:
        return "Dockerfile", None
    path = os.path.abspath(args.file)
    rel = os.path.relpath(path, os.path.abspath(context_dir))
    if not rel.startswith(".." + os.sep) and rel != "..":
        return rel.replace(os.sep, "/"), None
    try:
        with open(path, "rb") as f:
            return None, f.read()
    except OSError as e:
        raise CommandError(f"unable to prepare context: unable to evaluate symlinks in Dockerfile "
                           f"path: lstat {path}: {(e.strerror or str(e)).lower()}") from None


def _send_context(client: Client, path: str, tar: ContextTar, session: str) -> Response:
    """POST the context with a Content-Length, each file's data sent by the kernel (sendfile)."""
    from wharf.cli import credentials
    headers = {"Content-Type": "application/x-tar", "Content-Length": str(tar.size),
               "X-Registry-Config": credentials.registry_config()}
    if session:
        headers["X-Wharf-Build-Session"] = session
    conn = client.send("POST", path, body=b"", headers=headers)
    try:
        tar.send(conn.sock)
    except (BrokenPipeError, ConnectionResetError):
        pass  # the daemon stopped reading: its answer says why
    except OSError as e:
        conn.close()
        raise CommandError(f"unable to prepare context: {e}") from None
    return client.check(client.receive(conn), stream=True)


def run(args: Any, client: Client) -> int:
    from wharf.build.context import extra_dockerfile_name, plan_context
    from wharf.cli import buildopts

    output = buildopts.output(args.output)
    out = sys.stderr if output is not None and output.dest == "-" else sys.stdout  # stdout is the tar
    contexts, named = buildopts.build_contexts(args.build_context)
    session = buildopts.session_header(args, contexts)
    context_dir = args.path
    if not os.path.isdir(context_dir):
        raise CommandError(f'unable to prepare context: path "{context_dir}" not found')
    dockerfile, content = _dockerfile(args, context_dir)
    if dockerfile is not None and not os.path.isfile(os.path.join(context_dir, dockerfile)):
        raise CommandError(f"unable to prepare context: unable to evaluate symlinks in Dockerfile path: "
                           f"lstat {os.path.abspath(os.path.join(context_dir, dockerfile))}: no such file or directory")
    extra_name = extra_dockerfile_name() if content is not None else None
    params = {
        "dockerfile": extra_name or dockerfile, "buildargs": _key_values(args.build_arg, True) or None,
        "labels": _key_values(args.label, False) or None, "target": args.target or None,
        "q": args.quiet or None, "nocache": args.no_cache or None, "rm": args.rm,
        "forcerm": args.force_rm or None, "networkmode": args.network or None,
        "cachefrom": args.cache_from or None,
    }
    query = encode_query(params) + "".join(f"&{key}={quote(v)}" for key, values in
                                           (("t", args.tag), ("extrahosts", args.add_host))
                                           for v in values or [])
    try:
        tar = plan_context(context_dir, dockerfile, content, extra_name, named)
    except OSError as e:
        raise CommandError(f"unable to prepare context: {e}") from None
    if not args.quiet:
        out.write(f"Sending build context to Docker daemon  {human_size(tar.size)}\n\n")
        out.flush()
    resp = _send_context(client, f"/build{query}", tar, session)
    image_id = ""
    for msg in resp.iter_json():
        if msg.get("error"):
            detail = msg.get("errorDetail") or {}
            raise CommandError(msg["error"], status=int(detail.get("code") or 1))
        if (aux := msg.get("aux")) and aux.get("ID"):
            image_id = aux["ID"]
        if stream := msg.get("stream"):
            if args.quiet:
                image_id = stream.strip()
            out.write(stream)
            out.flush()
        elif not args.quiet and not msg.get("progressDetail", {}).get("total") and \
                (text := status_line(msg)) is not None:  # a base image being pulled
            out.write(text + "\n")
            out.flush()
    if output is not None and image_id:
        buildopts.export(client, image_id, output)
    if args.iidfile and image_id:
        with open(args.iidfile, "w") as f:
            f.write(image_id)
    return 0
