"""A busybox rootfs and a private cgroup path per test, and a way to run in them."""

from __future__ import annotations

import io
import os
import secrets
import shutil
import signal
from pathlib import Path
from typing import Any

from wharf.runtime import cgroups, container
from wharf.runtime import spec as specs

APPLETS = ("sh", "cat", "ps", "hostname", "mount", "ls", "id", "ip", "grep", "sleep",
           "echo", "readlink", "true", "test", "tty", "stat", "touch", "wc", "head", "env")


def make_rootfs(root: Path) -> None:
    (root / "bin").mkdir(parents=True)
    (root / "etc").mkdir()
    shutil.copy("/bin/busybox", root / "bin" / "busybox")
    for applet in APPLETS:
        (root / "bin" / applet).symlink_to("busybox")
    (root / "etc" / "passwd").write_text("root:x:0:0:root:/root:/bin/sh\n"
                                         "app:x:1000:1000::/home/app:/bin/sh\n")
    (root / "etc" / "group").write_text("root:x:0:\napp:x:1000:\nstaff:x:50:app\n")


class Box:
    """One test's bundle: build a spec, spawn it, collect output, clean up."""

    def __init__(self, base: Path) -> None:
        self.bundle = base
        self.rootfs = base / "rootfs"
        make_rootfs(self.rootfs)
        self.cgroups_path = f"/wharf-test-{secrets.token_hex(4)}/c"
        self.pids: list[int] = []
        self.cgroup = cgroups.open(self.cgroups_path)

    def spec(self, args: list[str], **kw: Any) -> dict[str, Any]:
        kw.setdefault("env", ["PATH=/bin", "HOME=/root"])
        kw.setdefault("hostname", "box")
        kw.setdefault("cgroups_path", self.cgroups_path)
        return specs.build(args=args, rootfs=str(self.rootfs), **kw)

    def start(self, args: list[str], stdio: tuple[int, int, int] | None = None,
              gate: int | None = None, **kw: Any) -> int:
        """Spawn the container (waiting at the start ``gate``, a pipe's read end, if
        given); its pid (remembered for cleanup)."""
        sp = self.spec(args, **kw)
        pid = container.spawn(str(self.bundle), sp, stdio or (0, 1, 2), gate=gate)
        self.pids.append(pid)
        return pid

    def run(self, args: list[str], **kw: Any) -> tuple[int, str]:
        """Spawn, wait; (exit code, stdout+stderr)."""
        r, w = os.pipe()
        try:
            pid = self.start(args, stdio=(0, w, w), **kw)
        finally:
            os.close(w)
        with io.open(r, "rb") as f:
            out = f.read().decode()
        return self.wait(pid), out

    def wait(self, pid: int) -> int:
        _, status = os.waitpid(pid, 0)
        self.pids.remove(pid)
        return os.waitstatus_to_exitcode(status)

    def cleanup(self) -> None:
        self.cgroup.destroy()  # thaws and kills first: a frozen process cannot be reaped
        for pid in self.pids:
            try:
                os.kill(pid, signal.SIGKILL)
                os.waitpid(pid, 0)
            except (ProcessLookupError, ChildProcessError):
                pass
        parent = self.cgroups_path.split("/")[1]
        for hierarchy in Path("/sys/fs/cgroup").iterdir():  # runc also uses name=systemd
            if (hierarchy / parent).is_dir():
                (hierarchy / parent).rmdir()
