"""Real bundles for the shim: a busybox rootfs in a tmp dir, run by runc.

Until the in-process runtime is in, the shim is driven through ``RuncRuntime``
(the shim's runtime interface over the runc binary, non-tty only). Every
bundle, runc container and cgroup is named ``wharf-test-<random>`` and removed
at teardown, shims and containers killed if a test left them running.
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
from typing import Any, Iterator

import pytest

from wharf.shim import main as shim_main
from wharf.shim.runtimes import SpawnFailed, Stdio

BUSYBOX = "/bin/busybox"


class RuncRuntime:
    """runc create + start for the init, runc exec for execs; cgroups left to runc delete."""

    def __init__(self, cid: str) -> None:
        self.cid = cid

    def spawn(self, bundle: str, spec: dict[str, Any], stdio: Stdio, console: int | None) -> int:
        pid_file = os.path.join(bundle, "runc.pid")
        r = subprocess.run(["runc", "create", "--bundle", bundle, "--pid-file", pid_file, self.cid],
                           stdin=stdio[0], stdout=stdio[1], stderr=stdio[2])
        if r.returncode:
            raise SpawnFailed(f"runc create failed ({r.returncode})", "runtime")
        subprocess.run(["runc", "start", self.cid], check=True, capture_output=True)
        return int(Path(pid_file).read_text())

    def spawn_exec(self, init_pid: int, spec: dict[str, Any], process: dict[str, Any],
                   stdio: Stdio, console: int | None) -> int:
        tmp = Path(f"/tmp/{self.cid}-exec-{secrets.token_hex(3)}")
        tmp.mkdir()
        try:
            (tmp / "process.json").write_text(json.dumps(process))
            r = subprocess.run(["runc", "exec", "-d", "--pid-file", str(tmp / "pid"), "--process",
                                str(tmp / "process.json"), self.cid],
                               stdin=stdio[0], stdout=stdio[1], stderr=stdio[2])
            if r.returncode:
                raise SpawnFailed(f"runc exec failed ({r.returncode})", "runtime")
            return int((tmp / "pid").read_text())
        finally:
            shutil.rmtree(tmp)

    def oom_killed(self, spec: dict[str, Any]) -> bool:
        return False

    def cleanup(self, bundle: str, spec: dict[str, Any]) -> None:
        subprocess.run(["runc", "delete", "--force", self.cid], capture_output=True)


class Bundle:
    """A bundle directory: rootfs, config.json (runc's default, adjusted), shim.json."""

    def __init__(self, base: Path) -> None:
        self.cid = base.name
        self.path = base
        self.log_path = base / "ctr-json.log"
        self.shim_pid = 0

    def write(self, args: list[str], tty: bool = False, open_stdin: bool = False,
              stdin_once: bool = False, attach: bool = False, log_opts: dict | None = None) -> None:
        rootfs = self.path / "rootfs"
        (rootfs / "bin").mkdir(parents=True)
        shutil.copy(BUSYBOX, rootfs / "bin" / "busybox")
        for applet in ("sh", "echo", "cat", "sleep", "kill", "printf", "true", "false", "ls", "tty"):
            os.symlink("busybox", rootfs / "bin" / applet)
        subprocess.run(["runc", "spec", "--bundle", str(self.path)], check=True)
        spec = json.loads((self.path / "config.json").read_text())
        spec["process"].update(args=args, terminal=tty, env=["PATH=/bin"])
        spec["root"] = {"path": str(rootfs), "readonly": False}
        spec["linux"]["cgroupsPath"] = f"/{self.cid}/ctr"
        (self.path / "config.json").write_text(json.dumps(spec))
        (self.path / "shim.json").write_text(json.dumps({
            "id": self.cid, "runtime": "runc", "log_path": str(self.log_path),
            "log_opts": log_opts or {}, "tty": tty, "open_stdin": open_stdin,
            "stdin_once": stdin_once, "attach": attach}))

    def start(self) -> dict[str, Any]:
        """Fork a shim the way the launcher does (own session) and return its report."""
        r, w = os.pipe()
        pid = os.fork()
        if pid == 0:
            os.close(r)
            os.setsid()
            code = 1
            try:
                def report(answer: dict[str, Any]) -> None:
                    os.write(w, json.dumps({"shim_pid": os.getpid(), **answer}).encode())
                    os.close(w)
                code = shim_main.run(str(self.path), report, RuncRuntime(self.cid))
            finally:
                os._exit(code)
        os.close(w)
        with os.fdopen(r, "rb") as f:
            answer = json.loads(f.read())
        self.shim_pid = pid
        return answer

    def reap(self, timeout: float = 10) -> int:
        """Wait for the shim to exit; its exit status."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            pid, status = os.waitpid(self.shim_pid, os.WNOHANG)
            if pid:
                self.shim_pid = 0
                return os.waitstatus_to_exitcode(status)
            time.sleep(0.02)
        raise TimeoutError("shim did not exit")

    def log(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.log_path.read_text().splitlines()]

    def exit(self) -> dict[str, Any]:
        return json.loads((self.path / "exit.json").read_text())


@pytest.fixture
def bundle() -> Iterator[Bundle]:
    base = Path("/tmp") / f"wharf-test-{secrets.token_hex(4)}"
    base.mkdir()
    b = Bundle(base)
    yield b
    if b.shim_pid:
        os.kill(b.shim_pid, signal.SIGKILL)
        os.waitpid(b.shim_pid, 0)
    subprocess.run(["runc", "delete", "--force", b.cid], capture_output=True)
    for ctrl in Path("/sys/fs/cgroup").iterdir():
        for d in sorted((ctrl / b.cid).glob("**/"), reverse=True) if (ctrl / b.cid).is_dir() else []:
            d.rmdir()
    shutil.rmtree(base)
