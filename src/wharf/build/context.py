"""The build context: sending a directory as a tar, and receiving one safely.

Client side (what ``docker build`` does): walk the context in a stable
order, leave out what ``.dockerignore`` excludes (skipping whole ignored
directories unless an exception may re-include something under them), keep
modes and mtimes, and write every entry as owned by 0:0. The Dockerfile and
``.dockerignore`` always travel; a Dockerfile from stdin or from outside the
context is added under a random ``.dockerfile.<hex>`` name that
``.dockerignore`` then lists.

Daemon side: the tar is untrusted. It is unpacked by the layer unpacker
(which refuses absolute names, ``..``, writes through symlinks and hard
links out of the root), the Dockerfile is read through symlinks that may
not leave the context, and the build files that ``.dockerignore`` excludes
are removed so ``COPY . .`` does not pick them up.
"""

from __future__ import annotations

import io
import os
import secrets
import tarfile
from typing import BinaryIO

from wharf.build.dockerignore import PatternMatcher, keep_build_files, read_patterns
from wharf.errors import NotFound
from wharf.linux.paths import secure_join

DOCKERIGNORE = ".dockerignore"


def ignore_patterns(context_dir: str) -> list[str]:
    try:
        with open(os.path.join(context_dir, DOCKERIGNORE), encoding="utf-8", errors="surrogateescape") as f:
            return read_patterns(f.read())
    except FileNotFoundError:
        return []


def extra_dockerfile_name() -> str:
    """The name a Dockerfile from stdin or outside the context travels under."""
    return f".dockerfile.{secrets.token_hex(10)}"


def write_context(context_dir: str, out: BinaryIO, dockerfile: str | None = "Dockerfile",
                  dockerfile_content: bytes | None = None, extra_name: str | None = None) -> str:
    """Write the context tar to ``out``; returns the Dockerfile's name inside it.

    ``dockerfile`` is the Dockerfile's path relative to the context when it
    is in it; pass ``dockerfile_content`` instead for stdin or a file outside.
    """
    patterns = ignore_patterns(context_dir)
    matcher = PatternMatcher(keep_build_files(patterns, None if dockerfile_content is not None else dockerfile))
    if dockerfile_content is None:
        extra_name = None
    elif extra_name is None:
        extra_name = extra_dockerfile_name()
    with tarfile.open(fileobj=out, mode="w|", format=tarfile.PAX_FORMAT) as tar:
        for rel in _walk(context_dir, matcher):
            if extra_name and rel == DOCKERIGNORE:
                continue  # rewritten below with the extra name in it
            info = tar.gettarinfo(os.path.join(context_dir, rel), arcname=rel)
            info.uid = info.gid = 0
            info.uname = info.gname = ""
            if info.isreg():
                with open(os.path.join(context_dir, rel), "rb") as f:
                    tar.addfile(info, f)
            else:
                tar.addfile(info)
        if extra_name is not None:
            ignore = _read(context_dir, DOCKERIGNORE)
            ignore = (ignore if ignore is not None else DOCKERIGNORE.encode()) + f"\n{extra_name}\n".encode()
            _add_bytes(tar, DOCKERIGNORE, ignore)
            _add_bytes(tar, extra_name, dockerfile_content)  # type: ignore[arg-type]
    return extra_name or dockerfile or "Dockerfile"


def _read(directory: str, name: str) -> bytes | None:
    try:
        with open(os.path.join(directory, name), "rb") as f:
            return f.read()
    except FileNotFoundError:
        return None


def _add_bytes(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size, info.mode, info.mtime = len(data), 0o600, 0
    tar.addfile(info, io.BytesIO(data))


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


class _EndPadded(io.RawIOBase):
    """A tar stream completed at EOF: its last block padded and the end marker added.

    The docker CLI's ``-f -`` context (Go's tar wrapper) stops right after the
    last file's data; Go's reader takes that, Python's needs whole blocks.
    """

    def __init__(self, inner: BinaryIO) -> None:
        self._inner, self._count, self._tail = inner, 0, None

    def readable(self) -> bool:
        return True

    def readinto(self, buf) -> int:  # type: ignore[override]
        if self._tail is None:
            data = self._inner.read(len(buf))
            if data:
                self._count += len(data)
                buf[:len(data)] = data
                return len(data)
            self._tail = memoryview(bytes(-self._count % 512 + 1024))
        n = min(len(buf), len(self._tail))
        buf[:n], self._tail = self._tail[:n], self._tail[n:]
        return n


def extract_context(stream: BinaryIO, dest: str) -> None:
    """Unpack an untrusted (possibly compressed) context tar into the empty ``dest``."""
    from wharf.image.archive import decompressed, extract_layer  # the one checked unpacker

    extract_layer(io.BufferedReader(_EndPadded(decompressed(stream)), 1 << 20), dest)  # type: ignore[arg-type]


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
    matcher = PatternMatcher(read_patterns(data.decode("utf-8", "surrogateescape")))
    for name in (DOCKERIGNORE, dockerfile):
        if matcher.matches(name):
            path = secure_join(root, name)
            if os.path.lexists(path) and not os.path.isdir(path):
                os.unlink(path)
