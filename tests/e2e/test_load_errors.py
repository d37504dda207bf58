"""``load`` of a bad archive answers as dockerd does: 200 and the error as the stream's
last message; the wharf and docker CLIs print it and exit 1."""

from __future__ import annotations

from pathlib import Path

import pytest

from support.daemon import DOCKER, Daemon

MESSAGE = "archive/tar: invalid header"


def test_a_bad_archive_is_a_streamed_error(wharfd: Daemon, tmp_path: Path) -> None:
    bad = tmp_path / "bad.tar"
    bad.write_bytes(b"this is not a tar archive\n" * 40)
    assert wharfd.api("POST", "/images/load", body=bad.read_bytes()) == \
        (200, {"errorDetail": {"message": MESSAGE}, "error": MESSAGE})
    r = wharfd.wharf("load", "-i", str(bad))
    assert (r.returncode, r.stdout, r.stderr) == (1, "", MESSAGE + "\n")


def test_the_docker_cli_reports_it_alike(wharfd: Daemon, tmp_path: Path) -> None:
    if not Path(DOCKER).exists():
        pytest.skip("no docker CLI")
    bad = tmp_path / "bad.tar"
    bad.write_bytes(b"this is not a tar archive\n" * 40)
    r = wharfd.docker("load", "-i", str(bad))
    assert (r.returncode, r.stderr) == (1, MESSAGE + "\n")
