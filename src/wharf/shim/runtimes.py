"""The runtime calls the shim makes, behind one small interface.

The shim needs four things from a runtime: spawn the init, spawn an exec'd
process, say whether the kernel OOM-killed the container, and clean up (the
cgroup) after it. ``load_runtime`` picks the implementation named in the
shim options' ``runtime``; anything with these methods can drive a ``Shim``.
Runtimes keep no per-container state (the host shares one among its containers):
what they need comes from the bundle's path and the spec.
"""

from __future__ import annotations

import os
import socket
import shutil
from typing import Any, Callable, Protocol

Stdio = tuple[int, int, int]


class SpawnFailed(Exception):
    """The container process could not be started; ``kind`` as the runtime's
    ``SpawnError``: "not_found" (127), "not_executable" (126), else 125."""

    def __init__(self, message: str, kind: str) -> None:
        super().__init__(message)
        self.kind = kind


class Runtime(Protocol):
    """``spawn``/``spawn_exec`` return the pid and, when the runtime made the
    terminal itself inside the container (both do: a pty of the container's
    own devpts, sent over a console socket), its pty master to use instead of
    the shim's; ``console`` is the slave of the shim's pty, or None; ``gate``
    the read end of the start's gate (``wharf.runtime.startgate``), or None."""

    def spawn(self, bundle: str, spec: dict[str, Any], stdio: Stdio,
              console: int | None, gate: int | None) -> tuple[int, int | None]: ...

    def spawn_exec(self, bundle: str, init_pid: int, spec: dict[str, Any],
                   process: dict[str, Any], stdio: Stdio,
                   console: int | None) -> tuple[int, int | None]: ...

    def oom_killed(self, cgroups_path: str | None) -> bool: ...

    def cleanup(self, bundle: str, cgroups_path: str | None) -> None: ...


class _Cgroups:
    """OOM and cleanup through the container's cgroup, whichever runtime made it."""

    def __init__(self) -> None:
        from wharf.runtime import cgroups, container
        self._cgroups, self._error = cgroups, container.SpawnError

    def oom_killed(self, cgroups_path: str | None) -> bool:
        try:
            return bool(cgroups_path and self._cgroups.open(cgroups_path).oom_killed())
        except OSError:
            return False

    def cleanup(self, bundle: str, cgroups_path: str | None) -> None:
        try:
            if cgroups_path:
                self._cgroups.open(cgroups_path).destroy()
        except OSError:
            pass


class InProcess(_Cgroups):
    """wharf's own runtime, ``wharf.runtime.container``."""

    def __init__(self) -> None:
        super().__init__()
        from wharf.runtime import container
        self._container = container

    def spawn(self, bundle: str, spec: dict[str, Any], stdio: Stdio,
              console: int | None, gate: int | None) -> tuple[int, int | None]:
        return self._call(console, lambda sock: self._container.spawn(bundle, spec, stdio, sock,
                                                                       gate))

    def spawn_exec(self, bundle: str, init_pid: int, spec: dict[str, Any],
                   process: dict[str, Any], stdio: Stdio,
                   console: int | None) -> tuple[int, int | None]:
        return self._call(console, lambda sock: self._container.spawn_exec(
            init_pid, spec, process, stdio, sock))

    def _call(self, console: int | None, spawn: Callable[[int | None], int]) -> tuple[int, int | None]:
        """Run ``spawn``; with a terminal wanted, the container makes its own pty
        (its devpts, as runc's) and sends the master over a socket pair."""
        try:
            if console is None:
                return spawn(None), None
            ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
            with ours, theirs:
                pid = spawn(theirs.fileno())
                theirs.close()  # a process killed before it sent the master: EOF, not a hang
                return pid, self._container.recv_console(ours)
        except self._error as e:
            raise SpawnFailed(str(e), e.kind) from None


class External(_Cgroups):
    """An OCI runtime binary (runc, crun) through ``wharf.runtime.oci``; the
    container's id there is the bundle directory's name."""

    def __init__(self, binary: str) -> None:
        super().__init__()
        from wharf.runtime import oci
        self._oci = oci.OCIRuntime(binary)

    def spawn(self, bundle: str, spec: dict[str, Any], stdio: Stdio,
              console: int | None, gate: int | None) -> tuple[int, int | None]:
        try:
            return self._oci.spawn(_id(bundle), bundle, stdio, tty=console is not None, gate=gate)
        except self._error as e:
            raise SpawnFailed(str(e), e.kind) from None

    def spawn_exec(self, bundle: str, init_pid: int, spec: dict[str, Any],
                   process: dict[str, Any], stdio: Stdio,
                   console: int | None) -> tuple[int, int | None]:
        try:
            return self._oci.spawn_exec(_id(bundle), process, stdio, tty=console is not None)
        except self._error as e:
            raise SpawnFailed(str(e), e.kind) from None

    def cleanup(self, bundle: str, cgroups_path: str | None) -> None:
        self._oci.delete_quiet(_id(bundle))
        super().cleanup(bundle, cgroups_path)


def _id(bundle: str) -> str:
    """The container's id in the OCI runtime: its bundle directory's name."""
    return os.path.basename(os.path.normpath(bundle))


def load_runtime(name: str) -> Runtime:
    """The runtime the shim options name: "wharf" (in-process) or an OCI runtime binary."""
    if name == "wharf":
        return InProcess()
    if shutil.which(name) is None:
        raise SpawnFailed(f"unknown or invalid runtime name: {name}", "other")
    return External(name)
