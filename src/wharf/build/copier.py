"""COPY and ADD on plain directories: Docker's source and destination rules.

Sources are paths relative to a source root (the build context, or another
stage's or image's root filesystem), resolved through symlinks that may not
leave it; wildcards match with Go's ``filepath.Match``. The destination is a
rootfs directory (an image's merged tree) and every write goes through
``secure_join``, so a symlink in the image cannot redirect a copy onto the
host. As Docker: a directory source copies its content; several sources,
or a destination ending in ``/``, need the destination to be a directory;
new files and directories are owned by 0:0 unless ``--chown``; ADD unpacks
a local tar (plain, gzip, bzip2 or xz) into the destination directory.
"""

from __future__ import annotations

import os
import posixpath
import shutil
import stat
from dataclasses import dataclass
from typing import Protocol

from wharf.build import gomatch
from wharf.build.dockerignore import PatternMatcher
from wharf.errors import InvalidParameter, NotFound
from wharf.linux.paths import secure_join
from wharf.runtime.user import parse_user

_ARCHIVE_MAGIC = (b"\x1f\x8b", b"BZh", b"\xfd7zXZ\x00")


@dataclass(frozen=True)
class Owner:
    uid: int
    gid: int


@dataclass(frozen=True)
class Source:
    """A path to copy: ``rel`` under ``root``; ``under`` (``--parents``) is where below the destination."""

    root: str
    rel: str
    under: str = ""


class Tree(Protocol):
    """What resolving sources asks of a source root: on disk (``DiskTree``), or a build
    context still in memory (``wharf.build.received``)."""

    def exists(self, rel: str) -> bool:
        """Whether the clean relative path ``rel`` names an entry (through symlinks inside)."""

    def paths(self) -> list[str]:
        """Every path below the root, each directory's subdirectories then files by name,
        then the subdirectories' in turn (``os.walk``'s order): wildcards match in it."""


class DiskTree:
    def __init__(self, root: str) -> None:
        self.root = root

    def exists(self, rel: str) -> bool:
        return os.path.lexists(secure_join(self.root, rel))

    def paths(self) -> list[str]:
        paths = []
        for dirpath, dirnames, filenames in os.walk(self.root):
            dirnames.sort()
            for name in dirnames + sorted(filenames):
                paths.append(os.path.relpath(os.path.join(dirpath, name), self.root))
        return paths


def resolve(root: str, src: str, keyword: str, parents: bool, tree: Tree | None = None) -> list[Source]:
    """One COPY source; with ``--parents`` each match keeps its path below the pivot
    (``a/./b/c`` keeps ``b/c``; without ``/./`` the whole path), BuildKit's rule.
    ``tree``: what stands for ``root`` if not the directory itself."""
    if not parents:
        return [Source(root, rel) for rel in resolve_sources(root, [src], keyword, tree)]
    pivot, sep, pattern = src.partition("/./")
    if not sep:
        pivot, pattern = "", src
    pivot = posixpath.normpath("/" + pivot).lstrip("/")
    return [Source(root, rel, posixpath.relpath(rel, pivot or "."))
            for rel in resolve_sources(root, [posixpath.join(pivot, pattern)], keyword, tree)]


def resolve_sources(root: str, patterns: list[str], keyword: str, tree: Tree | None = None) -> list[str]:
    """The relative paths the COPY sources name (wildcards expanded, in order)."""
    tree = tree or DiskTree(root)
    out: list[str] = []
    for pattern in patterns:
        clean = posixpath.normpath("/" + pattern).lstrip("/")
        if gomatch.has_wildcards(clean):
            found = [rel for rel in tree.paths() if gomatch.match(clean, rel)]
            if not found:
                raise NotFound(f"{keyword} failed: no source files were specified")
            out += found
            continue
        if not tree.exists(clean):
            raise NotFound(f"{keyword} failed: file not found in build context or excluded by "
                           f".dockerignore: stat {clean or '.'}: file does not exist")
        out.append(clean)
    return out


def owner(chown: str, rootfs: str) -> Owner | None:
    """``--chown=user[:group]`` inside ``rootfs``; a user alone means the same number as group."""
    if not chown:
        return None
    user, _, group = chown.partition(":")
    uid = parse_user(user, rootfs)[0]
    gid = parse_user(f"0:{group}", rootfs)[1] if group else uid
    return Owner(uid, gid)


def chmod_bits(text: str) -> int | None:
    if not text:
        return None
    try:
        mode = int(text, 8)
    except ValueError:
        raise InvalidParameter(f"invalid chmod parameter: {text}") from None
    if mode > 0o7777:
        raise InvalidParameter(f"invalid chmod parameter: {text}")
    return mode


class Copy:
    """One COPY/ADD into ``rootfs``: call ``add_source`` per source, ``add_bytes`` per heredoc."""

    def __init__(self, rootfs: str, dest: str, workdir: str, count: int, keyword: str,
                 who: Owner | None, mode: int | None, extract: bool, exclude: list[str] | None = None) -> None:
        self.rootfs, self.keyword, self.mode, self.extract = rootfs, keyword, mode, extract
        #: ``--exclude``: patterns (``.dockerignore``'s rules) over paths relative to each source
        self.exclude = PatternMatcher(exclude) if exclude else None
        self.who = who or Owner(0, 0)
        self.to_dir = dest.endswith("/") or dest in (".", "..") or dest.endswith(("/.", "/.."))
        absolute = dest if dest.startswith("/") else posixpath.join(workdir or "/", dest)
        self.dest = posixpath.normpath(absolute)
        if count > 1 and not self.to_dir:
            raise InvalidParameter(f"When using {keyword} with more than one source file, "
                                   "the destination must be a directory and end with a /")
        if os.path.isdir(secure_join(rootfs, self.dest)):
            self.to_dir = True

    def add_source(self, source: Source, unpack: bool = True) -> None:
        """One source; ``unpack=False`` copies an archive as it is (a downloaded URL)."""
        host = secure_join(source.root, source.rel)
        dest = posixpath.normpath(posixpath.join(self.dest, source.under)) if source.under else self.dest
        if os.path.isdir(host):
            self._mkdirs(dest)
            self._tree(host, dest)
        elif self.exclude and self.exclude.matches(source.rel):
            return
        elif self.extract and unpack and _is_archive(host):
            self._mkdirs(dest)
            self._unpack(host, dest)
        elif source.under:
            self._mkdirs(posixpath.dirname(dest))
            self._entry(host, dest)
        else:
            self._file_at(host, posixpath.basename(source.rel) or posixpath.basename(host))

    def add_bytes(self, name: str, data: bytes) -> None:
        target = posixpath.join(self.dest, name) if self.to_dir else self.dest
        self._mkdirs(posixpath.dirname(target))
        path = self._clear(target)
        with open(path, "wb") as f:
            f.write(data)
        self._finish(path, 0o644)

    def _file_at(self, host: str, name: str) -> None:
        target = posixpath.join(self.dest, name) if self.to_dir else self.dest
        self._mkdirs(posixpath.dirname(target))
        self._entry(host, target)

    def _tree(self, src: str, dest: str) -> None:
        for dirpath, dirnames, filenames in os.walk(src):
            dirnames.sort()
            rel_dir = os.path.relpath(dirpath, src)
            base = dest if rel_dir == "." else posixpath.join(dest, rel_dir)
            if self.exclude:
                skip = lambda name: self.exclude.matches(posixpath.normpath(posixpath.join(rel_dir, name)))  # noqa: E731
                dirnames[:] = [d for d in dirnames if not skip(d) or self.exclude.must_walk(
                    posixpath.normpath(posixpath.join(rel_dir, d)))]
                filenames = [f for f in filenames if not skip(f)]
            for name in dirnames + sorted(filenames):
                self._entry(os.path.join(dirpath, name), posixpath.join(base, name))

    def _entry(self, host: str, target: str) -> None:
        st = os.lstat(host)
        if stat.S_ISDIR(st.st_mode):
            path = secure_join(self.rootfs, target)
            if not os.path.isdir(path):
                self._clear(target)
                os.mkdir(path)
            self._finish(path, stat.S_IMODE(st.st_mode), st)
            return
        path = self._clear(target)
        if stat.S_ISLNK(st.st_mode):
            os.symlink(os.readlink(host), path)
            os.lchown(path, self.who.uid, self.who.gid)
            return
        if not stat.S_ISREG(st.st_mode):
            return  # devices, fifos and sockets are not copied from a context
        shutil.copyfile(host, path)
        self._finish(path, stat.S_IMODE(st.st_mode), st)

    def _finish(self, path: str, mode: int, st: os.stat_result | None = None) -> None:
        os.chown(path, self.who.uid, self.who.gid)
        os.chmod(path, self.mode if self.mode is not None else mode)
        if st is not None:
            os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))

    def _clear(self, target: str) -> str:
        """The host path for ``target``, with a non-directory already there removed."""
        path = secure_join(self.rootfs, target)
        if os.path.isdir(path) and not os.path.islink(path):
            raise InvalidParameter(f"{self.keyword} failed: cannot overwrite directory {target} with a file")
        if os.path.lexists(path):
            os.unlink(path)
        return path

    def _mkdirs(self, target: str) -> None:
        """Create missing directories down to ``target``, 0755 and owned as the copy.

        The path is resolved first (symlinks in the image followed inside the
        root), so the directories made are the ones the copy will write into.
        """
        resolved = os.path.relpath(secure_join(self.rootfs, target), self.rootfs)
        current = self.rootfs
        for part in [p for p in resolved.split("/") if p not in ("", ".")]:
            current = os.path.join(current, part)
            if os.path.isdir(current):
                continue
            if os.path.lexists(current):
                raise InvalidParameter(f"{self.keyword} failed: {target} is not a directory")
            os.mkdir(current, 0o755)
            os.chown(current, self.who.uid, self.who.gid)

    def _unpack(self, archive: str, dest: str) -> None:
        from wharf.image.archive import extract_layer

        with open(archive, "rb") as f:
            extract_layer(f, secure_join(self.rootfs, dest))


def _is_archive(path: str) -> bool:
    with open(path, "rb") as f:
        head = f.read(512)
    return head.startswith(_ARCHIVE_MAGIC) or head[257:262] == b"ustar"


def make_dir(rootfs: str, path: str) -> None:
    """WORKDIR: the directory and its missing parents, root-owned 0755."""
    Copy(rootfs, path + "/", "/", 1, "WORKDIR", None, None, False)._mkdirs(path)
