"""Container logs as a user reads them: complete right after the output is
written (the shim's flush), and per log driver (docs/architecture.md, "engine ↔ shim")."""

from __future__ import annotations

import os
import select
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

pytestmark = pytest.mark.root


def _written_then_logs(wharfd, busybox: str, sync_dir: Path) -> bytes:
    """A container writes a line, then tells us through a FIFO; its logs at once."""
    fifo = sync_dir / "fifo"
    os.mkfifo(fifo)
    status, made = wharfd.api("POST", "/containers/create", {
        "Image": busybox, "Cmd": ["sh", "-c", "echo hi; echo >/sync/fifo; sleep 600"],
        "HostConfig": {"Binds": [f"{sync_dir}:/sync"]}})
    assert status == 201, made
    cid = made["Id"]
    try:
        # open before the start: the container's open for writing then never blocks
        fd = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)
        try:
            status, _ = wharfd.api("POST", f"/containers/{cid}/start")
            assert status == 204
            # "hi" is in the container's stdout pipe once the FIFO has a line
            assert select.select([fd], [], [], 60)[0], "the container never wrote"
        finally:
            os.close(fd)
        status, body = wharfd.api("GET", f"/containers/{cid}/logs", params={"stdout": 1})
        assert status == 200
        return body or b""
    finally:
        wharfd.api("DELETE", f"/containers/{cid}", params={"force": 1})


def test_logs_right_after_output_see_it(wharfd, busybox, tmp_path):
    """Many write-then-logs cycles, eight at a time: the log read after the
    container wrote has the line, however late the shim would have read it."""
    dirs = [tmp_path / str(i) for i in range(48)]
    for d in dirs:
        d.mkdir()
    with ThreadPoolExecutor(8) as pool:
        bodies = list(pool.map(lambda d: _written_then_logs(wharfd, busybox, d), dirs))
    assert [b for b in bodies if not b.endswith(b"hi\n")] == []
