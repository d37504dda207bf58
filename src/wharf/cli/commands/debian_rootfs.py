"""A Debian rootfs made by ``debootstrap --variant=minbase`` from the Debian mirror
this host's apt uses, with a one-line progress display, streamed out as a tar.

debootstrap says what it is doing on lines like ``I: Retrieving bash 5.2``;
each phase (retrieving, validating, extracting, unpacking, configuring) is
counted and shown as it goes. The rootfs is built in a scratch directory
that is removed afterwards, after unmounting anything a failed debootstrap
left mounted in it (it mounts /proc and /sys in the target while it works).
"""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import subprocess
import sys
import tempfile
from typing import IO, Iterator

from wharf.cli.errors import CommandError

DEFAULT_MIRROR = "http://deb.debian.org/debian"
PHASES = ("Retrieving", "Validating", "Extracting", "Unpacking", "Configuring", "Installing")
#: what debootstrap retrieves or unpacks that is not one package
NOT_PACKAGES = ("Packages", "InRelease", "Release", "Release.gpg", "the", "required", "base")
#: left by debootstrap, useless in an image (Docker's official image drops them too)
TRIM = ("var/cache/apt/archives/*.deb", "var/lib/apt/lists/*_Packages", "var/lib/apt/lists/*Release*")


def apt_mirror(sources: list[str] | None = None) -> str:
    """The first Debian archive URI among the host's apt sources (not the security one)."""
    paths = sources if sources is not None else (
        ["/etc/apt/sources.list"] + sorted(glob.glob("/etc/apt/sources.list.d/*.list"))
        + sorted(glob.glob("/etc/apt/sources.list.d/*.sources")))
    for path in paths:
        try:
            with open(path) as f:
                lines = f.read().splitlines()
        except OSError:
            continue
        for line in lines:
            words = line.split("#", 1)[0].split()
            uris = words[1:] if words[:1] == ["URIs:"] else (
                [w for w in words[1:] if "://" in w][:1] if words[:1] == ["deb"] else [])
            for uri in uris:
                if uri.rstrip("/").endswith("/debian"):
                    return uri.rstrip("/")
    return DEFAULT_MIRROR


class Progress:
    """Counts debootstrap's ``I:`` lines per phase; rewrites one line on a terminal."""

    def __init__(self, out: IO[str]) -> None:
        self.out = out
        self.tty = out.isatty()
        self.counts: dict[str, int] = {}
        self.shown: set[str] = set()
        self.errors: list[str] = []

    def feed(self, line: str) -> None:
        line = line.rstrip()
        if line.startswith(("E: ", "W: ")):
            self.errors.append(line)
        if not line.startswith("I: "):
            return
        word, _, rest = line[3:].partition(" ")
        if word in PHASES and rest.split() and rest.split()[0] not in NOT_PACKAGES:
            self.counts[word] = self.counts.get(word, 0) + 1
            text = f"{word} packages: {self.counts[word]} ({rest.split()[0]})"
        else:
            text = line[3:]
        if self.tty:
            self.out.write("\r\x1b[K" + text[:shutil.get_terminal_size().columns - 1])
        elif word not in self.shown or word not in PHASES:
            self.out.write((f"{word} packages..." if word in PHASES else text) + "\n")
        self.shown.add(word)
        self.out.flush()

    def done(self) -> None:
        if self.tty:
            self.out.write("\r\x1b[K")
        summary = ", ".join(f"{n} {phase.lower()}" for phase, n in self.counts.items())
        self.out.write(f"debootstrap done: {summary}\n")
        self.out.flush()


@contextlib.contextmanager
def rootfs_tar(suite: str, mirror: str = "", progress_out: IO[str] = sys.stderr) -> Iterator[IO[bytes]]:
    """The tar stream of a fresh minbase rootfs of ``suite``."""
    if shutil.which("debootstrap") is None:
        raise CommandError("debootstrap is not installed: apt-get install debootstrap")
    if os.geteuid() != 0:
        raise CommandError("bootstrapping debian needs root (debootstrap creates device nodes and chroots)")
    scratch = tempfile.mkdtemp(prefix="wharf-debootstrap-", dir="/var/tmp")
    target = os.path.join(scratch, "rootfs")
    try:
        _debootstrap(suite, mirror or apt_mirror(), target, Progress(progress_out))
        for pattern in TRIM:
            for path in glob.glob(os.path.join(target, pattern)):
                os.unlink(path)
        _empty_dir(os.path.join(target, "dev"))
        tar = subprocess.Popen(["tar", "--numeric-owner", "--xattrs", "--xattrs-include=security.capability",
                                "-C", target, "-cf", "-", "."], stdout=subprocess.PIPE)
        try:
            assert tar.stdout is not None
            yield tar.stdout
        finally:
            tar.kill()
            tar.wait()
    finally:
        _unmount_under(scratch)
        shutil.rmtree(scratch, ignore_errors=True)


def _debootstrap(suite: str, mirror: str, target: str, progress: Progress) -> None:
    proc = subprocess.Popen(["debootstrap", "--variant=minbase", suite, target, mirror],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    assert proc.stdout is not None
    for line in proc.stdout:
        progress.feed(line)
    if proc.wait() != 0:
        tail = "\n".join(progress.errors[-5:]) or f"exit status {proc.returncode}"
        raise CommandError(f"debootstrap {suite} from {mirror} failed:\n{tail}")
    progress.done()


def _empty_dir(path: str) -> None:
    """/dev's nodes have no place in a layer: the runtime gives each container its own /dev."""
    for name in os.listdir(path):
        entry = os.path.join(path, name)
        if os.path.isdir(entry) and not os.path.islink(entry):
            shutil.rmtree(entry)
        else:
            os.unlink(entry)


def _unmount_under(path: str) -> None:
    """Lazily unmount whatever is mounted at or below ``path``, deepest first."""
    with open("/proc/self/mountinfo") as f:
        points = [line.split()[4] for line in f]
    for point in sorted((p for p in points if p == path or p.startswith(path + "/")), reverse=True):
        subprocess.run(["umount", "-l", point], capture_output=True)
