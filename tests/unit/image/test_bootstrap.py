"""The busybox rootfs the CLI builds from the host's busybox-static."""

from __future__ import annotations

import io
import sys
import tarfile

import pytest

from wharf.cli.commands import image_bootstrap
from wharf.cli.errors import CommandError


def test_rootfs_has_busybox_applets_users_and_dirs() -> None:
    busybox = image_bootstrap.find_static_busybox()
    with tarfile.open(fileobj=io.BytesIO(image_bootstrap.busybox_rootfs(busybox))) as tar:
        members = {m.name: m for m in tar.getmembers()}
        passwd = tar.extractfile("etc/passwd").read().decode()  # type: ignore[union-attr]
    assert members["bin/busybox"].isreg() and members["bin/busybox"].mode == 0o755
    assert members["bin/sh"].issym() and members["bin/sh"].linkname == "busybox"
    assert members["tmp"].isdir() and members["tmp"].mode == 0o1777
    for d in ("proc", "sys", "dev", "root", "home", "var"):
        assert members[d].isdir()
    assert passwd.startswith("root:x:0:0:") and "\nnobody:x:65534:65534:" in passwd
    assert "etc/group" in members


def test_dynamic_binaries_are_not_static() -> None:
    assert not image_bootstrap.is_static_elf(sys.executable)


def test_missing_busybox_static_says_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(image_bootstrap, "BUSYBOX_CANDIDATES", (sys.executable, "/nonexistent/busybox"))
    with pytest.raises(CommandError, match="install busybox-static"):
        image_bootstrap.find_static_busybox()


def test_the_debian_mirror_comes_from_apt_sources(tmp_path) -> None:
    from wharf.cli.commands.debian_rootfs import DEFAULT_MIRROR, apt_mirror
    deb822 = tmp_path / "debian.sources"
    deb822.write_text("Types: deb\nURIs: http://deb.debian.org/debian-security\nSuites: bookworm-security\n\n"
                      "Types: deb\nURIs: http://mirror.example/debian/\nSuites: bookworm\n")
    legacy = tmp_path / "sources.list"
    legacy.write_text("# comment\ndeb [arch=amd64] http://old.example/debian bookworm main\n")
    assert apt_mirror([str(deb822)]) == "http://mirror.example/debian"
    assert apt_mirror([str(legacy), str(deb822)]) == "http://old.example/debian"
    assert apt_mirror([str(tmp_path / "none")]) == DEFAULT_MIRROR


def test_debootstrap_progress_is_counted_per_phase() -> None:
    from wharf.cli.commands.debian_rootfs import Progress
    out = io.StringIO()
    progress = Progress(out)
    for line in ("I: Retrieving Packages", "I: Retrieving bash 5.2", "I: Validating bash 5.2",
                 "I: Retrieving dash 0.5", "W: odd", "I: Configuring bash:amd64...",
                 "I: Unpacking the base system...", "I: Base system installed successfully."):
        progress.feed(line)
    progress.done()
    assert out.getvalue().splitlines() == [
        "Retrieving packages...", "Validating packages...", "Configuring packages...", "Unpacking packages...",
        "Base system installed successfully.", "debootstrap done: 2 retrieving, 1 validating, 1 configuring"]
    assert progress.errors == ["W: odd"]
