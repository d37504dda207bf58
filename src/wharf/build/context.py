"""The build context: sending a directory as a tar, and receiving one safely.

Client side (what ``docker build`` does): walk the context in a stable
order, leave out what ``.dockerignore`` excludes (skipping whole ignored
directories unless an exception may re-include something under them), keep
modes and mtimes, and write every entry as owned by 0:0. The Dockerfile and
``.dockerignore`` always travel; a Dockerfile from stdin or from outside the
context is added under a random ``.dockerfile.<hex>`` name that
``.dockerignore`` then lists. The tar is planned first (``plan_context``:
headers built, size known), so the CLI sends it with a Content-Length and
each file's data by ``sendfile``.

Daemon side: the tar is untrusted. ``context_entries`` reads it in whole
body chunks (``wharf.image.tarstream``); ``wharf.build.received`` keeps a
plain context in memory or unpacks it with the layer unpacker (which refuses
absolute names, ``..``, writes through symlinks and hard links out of the
root), hashing each file as it arrives: the COPY checksums use those digests
and never read the context back. The Dockerfile is read through symlinks
that may not leave the context, and the build files that ``.dockerignore``
excludes are removed so ``COPY . .`` does not pick them up.
"""

from __future__ import annotations

import io
import os
import tarfile
from typing import TYPE_CHECKING, Any, BinaryIO, Iterable, Iterator, NamedTuple

from wharf.build.dockerignore import PatternMatcher, keep_build_files, read_patterns
from wharf.errors import NotFound
from wharf.linux.paths import secure_join

if TYPE_CHECKING:
    from wharf.image.archive import ContentDigests, Entry

DOCKERIGNORE = ".dockerignore"
#: Where ``--build-context name=DIR`` trees travel inside the context tar (moved aside at unpack).
NAMED_CONTEXTS = ".wharf-build-contexts"
_CHUNK = 1 << 20


def ignore_patterns(context_dir: str) -> list[str]:
    try:
        with open(os.path.join(context_dir, DOCKERIGNORE), encoding="utf-8", errors="surrogateescape") as f:
            return read_patterns(f.read())
    except FileNotFoundError:
        return []


def extra_dockerfile_name() -> str:
    """The name a Dockerfile from stdin or outside the context travels under."""
    return f".dockerfile.{os.urandom(10).hex()}"


# NamedTuples, not dataclasses: ``wharf build`` imports this module, and dataclasses
# costs the CLI milliseconds (inspect, ast) on every build.
class _FileData(NamedTuple):
    path: str
    size: int


class ContextTar(NamedTuple):
    """The context tar, planned before a byte is sent: headers built, total size known.

    So it goes out with a Content-Length and each file's data straight from
    the file (``sendfile``), not copied through Python in small pieces. A
    file that shrinks while it is sent is an error (the size was promised).
    """

    parts: list[bytes | _FileData]  # headers and padding, and the file data between them
    size: int
    dockerfile: str  # the Dockerfile's name inside the tar

    def send(self, sock: Any) -> None:
        """Send the whole tar on a connected socket."""
        for part in self.parts:
            if isinstance(part, bytes):
                sock.sendall(part)
                continue
            with open(part.path, "rb") as f:
                if _sendfile(sock.fileno(), f.fileno(), part.size) != part.size:
                    raise OSError(f"{part.path}: file changed as it was sent")

    def write(self, out: BinaryIO) -> None:
        """Write the whole tar to a file object."""
        for part in self.parts:
            if isinstance(part, bytes):
                out.write(part)
                continue
            with open(part.path, "rb") as f:
                left = part.size
                while left and (data := f.read(min(left, _CHUNK))):
                    out.write(data)
                    left -= len(data)
            if left:
                raise OSError(f"{part.path}: file changed as it was sent")


def _sendfile(sock_fd: int, file_fd: int, size: int) -> int:
    """Bytes of the file sent (short only if it shrank); os.sendfile, since the client's
    socket may be a bare ``_socket.socket`` without ``socket.sendfile``."""
    sent = 0
    while sent < size:
        n = os.sendfile(sock_fd, file_fd, sent, size - sent)
        if n == 0:
            break
        sent += n
    return sent


def plan_context(context_dir: str, dockerfile: str | None = "Dockerfile",
                 dockerfile_content: bytes | None = None, extra_name: str | None = None,
                 named: dict[str, str] | None = None) -> ContextTar:
    """The context tar of ``context_dir``, with ``.dockerignore`` applied.

    ``dockerfile`` is the Dockerfile's path relative to the context when it
    is in it; pass ``dockerfile_content`` instead for stdin or a file outside.
    ``named`` (``--build-context name=DIR``) adds each directory, with its own
    ``.dockerignore``, under ``NAMED_CONTEXTS/<name>/``, after the context's files.
    """
    patterns = ignore_patterns(context_dir)
    matcher = PatternMatcher(keep_build_files(patterns, None if dockerfile_content is not None else dockerfile))
    if dockerfile_content is None:
        extra_name = None
    elif extra_name is None:
        extra_name = extra_dockerfile_name()
    plan = _Planner()
    # A .dockerignore is rewritten below with the extra name in it.
    _add_files(plan, context_dir, (r for r in _walk(context_dir, matcher) if not (extra_name and r == DOCKERIGNORE)))
    if extra_name is not None:
        ignore = _read(context_dir, DOCKERIGNORE)
        ignore = (ignore if ignore is not None else DOCKERIGNORE.encode()) + f"\n{extra_name}\n".encode()
        plan.add_bytes(DOCKERIGNORE, ignore)
        plan.add_bytes(extra_name, dockerfile_content)  # type: ignore[arg-type]
    for name, directory in (named or {}).items():
        _add_tree(plan, directory, f"{NAMED_CONTEXTS}/{name}")
    return plan.finish(extra_name or dockerfile or "Dockerfile")


def _add_tree(plan: "_Planner", directory: str, prefix: str) -> None:
    for part in (NAMED_CONTEXTS, prefix):
        info = tarfile.TarInfo(part)
        info.type, info.mode = tarfile.DIRTYPE, 0o755
        plan.add(info, None)
    _add_files(plan, directory, _walk(directory, PatternMatcher(ignore_patterns(directory))), prefix + "/")


def _add_files(plan: "_Planner", root: str, rels: Iterable[str], prefix: str = "") -> None:
    with tarfile.open(fileobj=io.BytesIO(), mode="w") as tar:  # for gettarinfo's hard-link detection
        for rel in rels:
            path = os.path.join(root, rel)
            info = tar.gettarinfo(path, arcname=prefix + rel)
            info.uid = info.gid = 0
            info.uname = info.gname = ""
            plan.add(info, _FileData(path, info.size) if info.isreg() else None)


def write_context(context_dir: str, out: BinaryIO, dockerfile: str | None = "Dockerfile",
                  dockerfile_content: bytes | None = None, extra_name: str | None = None) -> str:
    """Write the context tar to ``out``; returns the Dockerfile's name inside it."""
    tar = plan_context(context_dir, dockerfile, dockerfile_content, extra_name)
    tar.write(out)
    return tar.dockerfile


class _Planner:
    """Collects a tar's parts: runs of header bytes, and file data to send as it stands."""

    def __init__(self) -> None:
        self.parts: list[bytes | _FileData] = []
        self._pending = bytearray()
        self.size = 0

    def _bytes(self, data: bytes) -> None:
        self._pending += data
        self.size += len(data)

    def add(self, info: tarfile.TarInfo, data: _FileData | bytes | None) -> None:
        self._bytes(info.tobuf(tarfile.PAX_FORMAT, "utf-8", "surrogateescape"))
        if isinstance(data, _FileData):
            self.parts += [bytes(self._pending), data]
            self._pending = bytearray()
            self.size += data.size
        elif data:
            self._bytes(data)
        self._bytes(bytes(-info.size % tarfile.BLOCKSIZE))

    def add_bytes(self, name: str, data: bytes) -> None:
        info = tarfile.TarInfo(name)
        info.size, info.mode, info.mtime = len(data), 0o600, 0
        self.add(info, data)

    def finish(self, dockerfile: str) -> ContextTar:
        self._bytes(bytes(2 * tarfile.BLOCKSIZE))  # the end marker
        self.parts.append(bytes(self._pending))
        return ContextTar([p for p in self.parts if not isinstance(p, bytes) or p], self.size, dockerfile)


def _read(directory: str, name: str) -> bytes | None:
    try:
        with open(os.path.join(directory, name), "rb") as f:
            return f.read()
    except FileNotFoundError:
        return None


def _walk(root: str, matcher: PatternMatcher, rel: str = ""):
    """Relative paths to send, parents before children, names in byte order."""
    with os.scandir(os.path.join(root, rel) if rel else root) as it:
        entries = sorted(it, key=lambda e: e.name)
    for entry in entries:
        path = f"{rel}/{entry.name}" if rel else entry.name
        is_dir = entry.is_dir(follow_symlinks=False)
        if matcher.matches(path):
            if is_dir and matcher.has_exclusions and matcher.must_walk(path):
                yield from _walk(root, matcher, path)
            continue
        yield path
        if is_dir:
            yield from _walk(root, matcher, path)


def context_entries(stream: BinaryIO) -> Iterator[Entry]:
    """The entries of an untrusted (possibly compressed) context tar, each with its data.

    ``stream.read(n)`` may return fewer than ``n`` bytes (the request body
    hands over what has arrived); the data comes as slices of those chunks.
    """
    from wharf.image.tarstream import TarChunks  # the daemon's side only: the CLI never loads these
    from wharf.image.archive import decompressed, is_compressed

    head = b""
    while len(head) < 6 and (more := stream.read(_CHUNK)):
        head += more
    if is_compressed(head):
        unpacked = decompressed(stream, head)
        return TarChunks(unpacked.read1, chunk=_CHUNK).entries()  # type: ignore[attr-defined]
    return TarChunks(stream.read, head, _CHUNK).entries()


def extract_context(stream: BinaryIO, dest: str) -> ContentDigests:
    """Unpack an untrusted context tar into the empty ``dest``. Returns the content digest
    of every file, taken as it was written, for the COPY checksums."""
    from wharf.image.archive import extract_entries

    digests: ContentDigests = {}
    extract_entries(context_entries(stream), dest, digests)
    return digests


def read_dockerfile(root: str, name: str) -> str:
    """The Dockerfile's text; ``name`` may not lead (via ``..`` or symlinks) out of the context."""
    path = secure_join(root, name)
    try:
        with open(path, encoding="utf-8", errors="surrogateescape") as f:
            return f.read()
    except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
        raise NotFound(f"Cannot locate specified Dockerfile: {name}") from None


def remove_ignored_build_files(root: str, dockerfile: str) -> None:
    """Drop ``.dockerignore`` and the Dockerfile from the context if ``.dockerignore`` excludes them."""
    data = _read(root, DOCKERIGNORE)
    if data is None:
        return
    for name in ignored_build_files(data, dockerfile):
        path = secure_join(root, name)
        if os.path.lexists(path) and not os.path.isdir(path):
            os.unlink(path)


def ignored_build_files(dockerignore: bytes, dockerfile: str) -> list[str]:
    """Which of ``.dockerignore`` and the Dockerfile that ``.dockerignore`` excludes."""
    matcher = PatternMatcher(read_patterns(dockerignore.decode("utf-8", "surrogateescape")))
    return [name for name in (DOCKERIGNORE, dockerfile) if matcher.matches(name)]
