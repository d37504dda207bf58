"""``wharf build``: send a context to ``POST /build`` and show Docker's classic output.

The context tar is written by ``wharf.build.context`` in a thread into a
pipe while the request streams it out, so a large context is never held in
memory. ``-f`` names a Dockerfile relative to the current directory (as
docker does); one outside the context, or ``-f -`` (stdin), travels inside
the tar under a random name.
"""

from __future__ import annotations

import os
import sys
import threading
from typing import Any, Iterator

from wharf.cli.errors import CommandError
from wharf.cli.units import human_size
from wharf.client.http import Client, encode_query, quote

USAGE = "[OPTIONS] PATH"
ALIASES = "wharf image build, wharf build, wharf builder build"
CHUNK = 1 << 20


def add_arguments(parser: Any) -> None:
    parser.add_argument("--build-arg", action="append", metavar="list", help="Set build-time variables")
    parser.add_argument("-f", "--file", default="", metavar="string",
                        help="Name of the Dockerfile (Default is 'PATH/Dockerfile')")
    parser.add_argument("--force-rm", action="store_true", help="Always remove intermediate containers")
    parser.add_argument("--iidfile", default="", metavar="string", help="Write the image ID to the file")
    parser.add_argument("--label", action="append", metavar="list", help="Set metadata for an image")
    parser.add_argument("--network", default="", metavar="string",
                        help="Set the networking mode for the RUN instructions during build")
    parser.add_argument("--no-cache", action="store_true", help="Do not use cache when building the image")
    parser.add_argument("-q", "--quiet", action="store_true",
                        help="Suppress the build output and print image ID on success")
    parser.add_argument("--rm", action="store_true", default=True,
                        help="Remove intermediate containers after a successful build")
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


def _context_chunks(context_dir: str, dockerfile: str | None, content: bytes | None,
                    extra_name: str | None, sent: list[int]) -> Iterator[bytes]:
    """The context tar, written in a thread as the request sends it."""
    from wharf.build.context import write_context

    read_fd, write_fd = os.pipe()
    try:
        import fcntl
        fcntl.fcntl(write_fd, fcntl.F_SETPIPE_SZ, CHUNK)  # whole-chunk reads: fewer thread switches
    except OSError:
        pass
    errors: list[BaseException] = []

    def produce() -> None:
        try:
            with open(write_fd, "wb") as out:
                write_context(context_dir, out, dockerfile, content, extra_name)
        except BaseException as e:  # shown after the upload stops
            errors.append(e)

    thread = threading.Thread(target=produce, daemon=True)
    thread.start()
    with open(read_fd, "rb") as reader:
        while data := reader.read(CHUNK):
            sent[0] += len(data)
            yield data
    thread.join()
    if errors:
        raise CommandError(f"unable to prepare context: {errors[0]}")


def run(args: Any, client: Client) -> int:
    from wharf.build.context import extra_dockerfile_name

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
    }
    query = encode_query(params) + "".join(f"&t={quote(t)}" for t in args.tag or [])
    sent = [0]
    resp = client.request("POST", f"/build{query}",
                          body=_context_chunks(context_dir, dockerfile, content, extra_name, sent),
                          headers={"Content-Type": "application/x-tar"}, stream=True)
    if not args.quiet:
        sys.stdout.write(f"Sending build context to Docker daemon  {human_size(sent[0])}\n\n")
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
            sys.stdout.write(stream)
            sys.stdout.flush()
    if args.iidfile and image_id:
        with open(args.iidfile, "w") as f:
            f.write(image_id)
    return 0
