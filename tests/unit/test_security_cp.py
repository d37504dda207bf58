"""The CLI side of ``cp``: a hostile archive from a container cannot write on the
host outside the destination (``..``, absolute names, a link then a file through it)."""

from __future__ import annotations

import io
import tarfile

import pytest

from wharf.cli.commands.cp import extract
from wharf.cli.errors import CommandError


def archive(*members: tuple[str, str, str]) -> io.BytesIO:
    """(name, kind "f"/"l"/"d", data or link target) entries, in order."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for name, kind, data in members:
            info = tarfile.TarInfo(name)
            if kind == "f":
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data.encode()))
            elif kind == "l":
                info.type, info.linkname = tarfile.SYMTYPE, data
                tar.addfile(info)
            else:
                info.type = tarfile.DIRTYPE
                tar.addfile(info)
    buf.seek(0)
    return buf


def test_link_then_file_through_it_is_refused(tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    dest = tmp_path / "dest"
    dest.mkdir()
    bad = archive(("top", "d", ""), ("top/x", "l", str(outside)), ("top/x/owned", "f", "pwned"))
    with pytest.raises(CommandError, match="through a symbolic link"):
        extract(bad, str(dest), None)
    assert list(outside.iterdir()) == []


def test_a_link_is_replaced_not_written_through(tmp_path):
    victim = tmp_path / "victim"
    victim.write_text("safe")
    dest = tmp_path / "dest"
    dest.mkdir()
    extract(archive(("f", "l", str(victim)), ("f", "f", "new")), str(dest), None)
    assert victim.read_text() == "safe" and (dest / "f").read_text() == "new"


@pytest.mark.parametrize("name", ["../escape", "a/../../escape"])
def test_climbing_names_are_refused(tmp_path, name):
    dest = tmp_path / "dest"
    dest.mkdir()
    with pytest.raises(CommandError, match="invalid archive entry"):
        extract(archive((name, "f", "x")), str(dest), None)
    assert not (tmp_path / "escape").exists()


def test_absolute_names_land_inside_and_rename_applies(tmp_path):
    dest = tmp_path / "dest"
    dest.mkdir()
    extract(archive(("/etc", "d", ""), ("/etc/passwd", "f", "inside")), str(dest), "copy")
    assert (dest / "copy" / "passwd").read_text() == "inside"
