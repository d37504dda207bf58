"""The runtime calls the shim makes, behind one small interface.

The shim needs four things from a runtime: spawn the init, spawn an exec'd
process, say whether the kernel OOM-killed the container, and clean up (the
cgroup) after it. ``load_runtime`` picks the implementation named in
``shim.json``; anything with these methods can drive a ``Shim``.
"""

from __future__ import annotations

from typing import Any, Protocol

Stdio = tuple[int, int, int]


class SpawnFailed(Exception):
    """The container process could not be started; ``kind`` as the runtime's
    ``SpawnError`` ("not_found" → 127, "permission" → 126, else 128)."""

    def __init__(self, message: str, kind: str) -> None:
        super().__init__(message)
        self.kind = kind


class Runtime(Protocol):
    def spawn(self, bundle: str, spec: dict[str, Any], stdio: Stdio, console: int | None) -> int: ...

    def spawn_exec(self, init_pid: int, spec: dict[str, Any], process: dict[str, Any],
                   stdio: Stdio, console: int | None) -> int: ...

    def oom_killed(self, spec: dict[str, Any]) -> bool: ...

    def cleanup(self, bundle: str, spec: dict[str, Any]) -> None: ...


class InProcess:
    """wharf's own runtime (``wharf.runtime.container``), cgroups through ``wharf.runtime.cgroups``."""

    def __init__(self) -> None:
        from wharf.runtime import cgroups, container
        self._container, self._cgroups = container, cgroups

    def spawn(self, bundle: str, spec: dict[str, Any], stdio: Stdio, console: int | None) -> int:
        try:
            return self._container.spawn(bundle, spec, stdio, console)
        except self._container.SpawnError as e:
            raise SpawnFailed(str(e), e.kind) from None

    def spawn_exec(self, init_pid: int, spec: dict[str, Any], process: dict[str, Any],
                   stdio: Stdio, console: int | None) -> int:
        try:
            return self._container.spawn_exec(init_pid, spec, process, stdio, console)
        except self._container.SpawnError as e:
            raise SpawnFailed(str(e), e.kind) from None

    def _cgroup(self, spec: dict[str, Any]) -> Any:
        path = spec.get("linux", {}).get("cgroupsPath")
        return self._cgroups.open(path) if path else None

    def oom_killed(self, spec: dict[str, Any]) -> bool:
        cg = self._cgroup(spec)
        try:
            return bool(cg and cg.oom_killed())
        except OSError:
            return False

    def cleanup(self, bundle: str, spec: dict[str, Any]) -> None:
        cg = self._cgroup(spec)
        if cg is not None:
            try:
                cg.destroy()
            except OSError:
                pass


def load_runtime(name: str) -> Runtime:
    if name == "wharf":
        return InProcess()
    raise SpawnFailed(f"unknown or invalid runtime name: {name}", "runtime")
