"""Real bundles for the shim: a busybox rootfs in a tmp dir, run by each runtime
(wharf's in-process one and runc). Every bundle, runc container and cgroup is
named ``wharf-test-<random>`` and removed at teardown, shim hosts and
containers killed if a test left them running.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

from support.polling import eventually
from wharf.runtime.spec import build
from wharf.shim import client

BUSYBOX = "/bin/busybox"


class Bundle:
    """A bundle directory (rootfs, config.json) and its shim options."""

    def __init__(self, base: Path, runtime: str) -> None:
        self.cid = base.name
        self.runtime = runtime
        self.path = base
        self.log_path = base / "ctr-json.log"
        self.shim_pid = 0
        self.opts: dict[str, Any] = {}

    def write(self, args: list[str], tty: bool = False, open_stdin: bool = False,
              stdin_once: bool = False, attach: bool = False, log_opts: dict | None = None) -> None:
        """Make the bundle (the spec from wharf's builder) for ``args``."""
        rootfs = self.path / "rootfs"
        (rootfs / "bin").mkdir(parents=True)
        shutil.copy(BUSYBOX, rootfs / "bin" / "busybox")
        for applet in ("sh", "echo", "cat", "sleep", "kill", "printf", "true", "false", "ls", "tty", "stty"):
            os.symlink("busybox", rootfs / "bin" / applet)
        spec = build(args=args, rootfs=str(rootfs), env=["PATH=/bin"], tty=tty, hostname="shimtest",
                     console_size=(24, 80) if tty else None, cgroups_path=f"/{self.cid}/ctr")
        (self.path / "config.json").write_text(json.dumps(spec))
        self.opts = {
            "id": self.cid, "runtime": self.runtime, "log_path": str(self.log_path),
            "log_opts": log_opts or {}, "tty": tty, "open_stdin": open_stdin,
            "stdin_once": stdin_once, "attach": attach}

    def start(self) -> dict[str, Any]:
        """Start the container through a launcher of its own (the bundle its exec root),
        closed at once: its shim host then serves this container alone and exits after it."""
        launcher = client.Launcher(str(self.path))
        try:
            answer = launcher.start(str(self.path), self.opts)
        finally:
            launcher.close()
        self.shim_pid = answer["shim_pid"] or 0
        return answer

    def reap(self, timeout: float = 10) -> None:
        """Wait for the shim host to exit (it does once the container is done)."""
        if self.shim_pid and not gone(self.shim_pid, timeout):
            raise TimeoutError("the shim host did not exit")
        self.shim_pid = 0

    def log(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.log_path.read_text().splitlines()]

    def exit(self) -> dict[str, Any]:
        return json.loads((self.path / "exit.json").read_text())


def gone(pid: int, timeout: float = 10) -> bool:
    """Whether ``pid`` (not our child) exits within ``timeout`` (a zombie counts as gone)."""
    def exited() -> bool:
        try:
            return Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0] == "Z"
        except (FileNotFoundError, ProcessLookupError):
            return True
    return eventually(exited, timeout, 0.02)


def ppid(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("PPid:"):
            return int(line.split()[1])
    raise AssertionError("no PPid")


def adopted(pid: int, host: int, timeout: float = 10) -> bool:
    """Whether ``pid`` becomes ``host``'s child: its helper may report before it exits."""
    return eventually(lambda: ppid(pid) == host, timeout, 0.01)


def new_base() -> Path:
    base = Path("/tmp") / f"wharf-test-{secrets.token_hex(4)}"
    base.mkdir()
    return base


def discard(b: Bundle) -> None:
    """Kill the shim if it still runs, remove the bundle; fail if a finished shim left its cgroup."""
    shim_finished = not b.shim_pid
    if b.shim_pid:
        os.kill(b.shim_pid, signal.SIGKILL)
        gone(b.shim_pid)
    left = remove_cgroups(b.cid)
    subprocess.run(["runc", "delete", "--force", b.cid], capture_output=True)
    shutil.rmtree(b.path)
    leaf = [d for d in left if d.endswith("/ctr")]  # the parent is the daemon's, not the shim's
    assert not (shim_finished and leaf), f"the shim left the container's cgroup: {leaf}"


def remove_cgroups(name: str) -> list[str]:
    """Kill what is in the cgroups under ``name`` and remove them; the ones that were there."""
    found = []
    for ctrl in Path("/sys/fs/cgroup").iterdir():
        top = ctrl / name
        if not top.is_dir():
            continue
        for d in sorted(top.glob("**/"), key=lambda p: len(p.parts), reverse=True):
            found.append(str(d))
            for pid in (d / "cgroup.procs").read_text().split():
                os.kill(int(pid), signal.SIGKILL)
            for _ in range(100):
                try:
                    d.rmdir()
                    break
                except OSError:
                    time.sleep(0.02)
    return found


class Root:
    """An exec root holding a test's bundles."""

    def __init__(self) -> None:
        self.path = new_base()
        self.bundles: list[Bundle] = []

    def make(self, args: list[str], open_stdin: bool = False, tty: bool = False,
             log_opts: dict | None = None) -> Bundle:
        b = Bundle(new_base(), "wharf")
        b.path = b.path.rename(self.path / b.cid)
        b.log_path = b.path / "ctr-json.log"
        b.write(args, open_stdin=open_stdin, tty=tty, log_opts=log_opts)
        self.bundles.append(b)
        return b
