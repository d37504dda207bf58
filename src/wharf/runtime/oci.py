"""The same OCI bundle, run by an external runtime binary (runc, crun).

Both speak the same CLI (``create``/``start``/``delete``/``exec``), so one class
drives either. Pause, stats and signals need no runtime: the engine freezes
the container's cgroup and signals its init's pid, whichever runtime started
it (runc's ``state`` reads the same freezer, so it agrees). ``spawn`` and
``spawn_exec`` mirror ``wharf.runtime.container`` so the shim can treat
runtimes alike; the container's init is forked by the runtime, so the caller
must be a child subreaper to ``waitpid`` it.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import tempfile
import threading
from typing import Any

from wharf.runtime import startgate
from wharf.runtime.container import SpawnError


class OCIError(Exception):
    """The runtime binary failed; ``message`` is what it said."""


def _kind(message: str) -> str:
    """Docker's reading of a runtime's start error (127 / 126 / 125)."""
    if "executable file not found" in message or "no such file or directory" in message:
        return "not_found"
    if "permission denied" in message:
        return "not_executable"
    return "other"


class OCIRuntime:
    """One runtime binary with its own state directory (``--root``)."""

    def __init__(self, binary: str = "runc", root: str | None = None) -> None:
        self.binary = binary
        self.root = root

    def _argv(self, *args: str) -> list[str]:
        return [self.binary, *(("--root", self.root) if self.root else ()), *args]

    def run(self, *args: str, stdio: tuple[int, int, int] | None = None) -> str:
        """Run one runtime command; its stdout, or ``OCIError`` with its stderr."""
        if stdio is None:
            proc = subprocess.run(self._argv(*args), capture_output=True, text=True)
            out, err = proc.stdout, proc.stderr
        else:  # the container inherits these fds; the runtime's errors come from its log
            with tempfile.TemporaryFile("w+") as log:
                proc = subprocess.run(self._argv("--log", f"/proc/self/fd/{log.fileno()}",
                                                 "--log-format", "json", *args),
                                      stdin=stdio[0], stdout=stdio[1], stderr=stdio[2],
                                      pass_fds=(log.fileno(),))
                log.seek(0)
                out, err = "", _last_error(log.read())
        if proc.returncode != 0:
            raise OCIError(err.strip() or f"{self.binary} {args[0]} exited {proc.returncode}")
        return out

    def create(self, container_id: str, bundle: str, stdio: tuple[int, int, int],
               pid_file: str, console_socket: str | None = None) -> None:
        extra = ("--console-socket", console_socket) if console_socket else ()
        self.run("create", "--bundle", bundle, "--pid-file", pid_file, *extra, container_id,
                 stdio=stdio)

    def start(self, container_id: str) -> None:
        self.run("start", container_id)

    def delete(self, container_id: str, force: bool = False) -> None:
        self.run("delete", *(("--force",) if force else ()), container_id)

    def spawn(self, container_id: str, bundle: str, stdio: tuple[int, int, int] = (0, 1, 2),
              tty: bool = False, gate: int | None = None) -> tuple[int, int | None]:
        """create + start; (init pid, pty master fd when ``tty``), or ``SpawnError``;
        between the two it waits at the start ``gate`` (``startgate``) if given."""
        with tempfile.TemporaryDirectory(prefix="wharf-oci-") as tmp:
            pid_file = os.path.join(tmp, "pid")
            master = None
            try:
                if tty:
                    master = _with_console(tmp, lambda sock: self.create(
                        container_id, bundle, stdio, pid_file, sock))
                else:
                    self.create(container_id, bundle, stdio, pid_file)
                pid = int(open(pid_file).read())
                if not startgate.wait(gate):
                    raise OCIError("the engine cancelled the start")
                self.start(container_id)
            except OCIError as e:
                if master is not None:
                    os.close(master)
                self.delete_quiet(container_id)
                raise SpawnError(str(e), _kind(str(e))) from None
        return pid, master

    def spawn_exec(self, container_id: str, process: dict[str, Any],
                   stdio: tuple[int, int, int] = (0, 1, 2),
                   tty: bool = False) -> tuple[int, int | None]:
        """``exec --detach`` of an OCI ``process``; (pid, pty master fd when ``tty``)."""
        with tempfile.TemporaryDirectory(prefix="wharf-oci-") as tmp:
            pid_file = os.path.join(tmp, "pid")
            process_file = os.path.join(tmp, "process.json")
            with open(process_file, "w") as f:
                json.dump({**process, "terminal": tty}, f)
            args = ["exec", "--detach", "--process", process_file, "--pid-file", pid_file]

            def run(sock: str | None) -> None:
                extra = ["--console-socket", sock] if sock else []
                self.run(*args, *extra, container_id, stdio=stdio)

            try:
                master = _with_console(tmp, run) if tty else run(None)
            except OCIError as e:
                raise SpawnError(str(e), _kind(str(e))) from None
            return int(open(pid_file).read()), master

    def delete_quiet(self, container_id: str) -> None:
        """Delete, ignoring a container the runtime no longer knows."""
        try:
            self.delete(container_id, force=True)
        except OCIError:
            pass


def _last_error(log: str) -> str:
    """The last error message of a runtime's JSON log (or its last line)."""
    message = ""
    for line in log.splitlines():
        try:
            entry = json.loads(line)
        except ValueError:
            message = line or message
            continue
        if entry.get("level") in ("error", "fatal"):
            message = entry.get("msg", message)
    return message


def _with_console(tmp: str, create: Any) -> int:
    """Run ``create(socket_path)`` while receiving the pty master the runtime sends."""
    path = os.path.join(tmp, "console.sock")
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as server:
        server.bind(path)
        server.listen(1)
        server.settimeout(30)
        result: dict[str, Any] = {}

        def accept() -> None:
            try:
                conn, _ = server.accept()
                with conn:
                    _, fds, _, _ = socket.recv_fds(conn, 4096, 1)
                    result["fd"] = fds[0]
            except OSError as e:
                result["error"] = e

        t = threading.Thread(target=accept, daemon=True)
        t.start()
        create(path)  # on failure, closing the server ends the thread
        t.join(timeout=30)
        if "fd" not in result:
            raise OCIError(f"no console from runtime: {result.get('error')}")
        return result["fd"]
