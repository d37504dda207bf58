"""``wharf run -it`` under a real pseudo-terminal: typed commands run, Ctrl-P Ctrl-Q detaches."""

from __future__ import annotations

import os
import pty
import secrets
import select
import subprocess
import sys
import time
from pathlib import Path


def _read_until(fd: int, needle: bytes, timeout: float = 20) -> bytes:
    seen = b""
    deadline = time.monotonic() + timeout
    while needle not in seen and time.monotonic() < deadline:
        ready, _, _ = select.select([fd], [], [], 0.2)
        if ready:
            try:
                seen += os.read(fd, 4096)
            except OSError:
                break
    return seen


def _spawn(wharfd, *args: str) -> tuple[subprocess.Popen[bytes], int]:
    master, slave = pty.openpty()
    proc = subprocess.Popen([str(Path(sys.executable).parent / "wharf"), *args], stdin=slave, stdout=slave,
                            stderr=slave, env=wharfd.env, start_new_session=True)
    os.close(slave)
    return proc, master


def test_run_it_shell_and_detach(wharfd, busybox) -> None:
    name = f"wharf-test-{secrets.token_hex(3)}"
    proc, master = _spawn(wharfd, "run", "-it", "--name", name, busybox, "sh")
    try:
        _read_until(master, b"#")
        os.write(master, b"echo $((6*7))\r")
        assert b"42" in _read_until(master, b"42")
        os.write(master, b"\x10\x11")  # ctrl-p ctrl-q
        assert proc.wait(20) == 0
        assert wharfd.wharf("inspect", "-f", "{{.State.Running}}", name).stdout == "true\n"
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        os.close(master)
        wharfd.wharf("rm", "-f", name)


def test_run_it_exit_code_and_terminal_size(wharfd, busybox) -> None:
    proc, master = _spawn(wharfd, "run", "--rm", "-it", busybox, "sh")
    try:
        _read_until(master, b"#")
        os.write(master, b"stty size; exit 5\r")
        assert proc.wait(20) == 5
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        os.close(master)
