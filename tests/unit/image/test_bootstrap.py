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
