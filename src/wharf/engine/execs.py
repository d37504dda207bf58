"""``docker exec``: exec instances, started through the container's shim.

An exec lives in memory only (as in Docker): it is created, started once,
and keeps its exit code for ``/exec/{id}/json`` until its container goes.
The process spec is the container's own (``config.json``'s ``process``) with
the exec's command, user, env and working directory, so it gets the same
capabilities, rlimits and no_new_privs as the container's init.
"""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import signal
from typing import Any, Callable

from wharf.engine import detachkeys, shims
from wharf.engine.containers import ContainerService
from wharf.engine.events import EventBus
from wharf.engine.launch import process_env, rootfs_path
from wharf.errors import Conflict, InvalidParameter, NotFound
from wharf.runtime import cgroups
from wharf.runtime.user import parse_user, with_home
from wharf.shim import frames


class Exec:
    def __init__(self, exec_id: str, container_id: str, body: dict[str, Any]) -> None:
        self.id = exec_id
        self.container_id = container_id
        self.body = body
        self.running = False
        self.started = False
        self.exit_code: int | None = None
        self.pid = 0

    @property
    def tty(self) -> bool:
        return bool(self.body.get("Tty"))

    @property
    def detach_keys(self) -> bytes:
        """Checked at create; empty for the default (ctrl-p,ctrl-q)."""
        return detachkeys.parse(self.body["DetachKeys"]) if self.body["DetachKeys"] else b""

    def inspect(self) -> dict[str, Any]:
        cmd = self.body["Cmd"]
        return {
            "ID": self.id, "Running": self.running, "ExitCode": self.exit_code,
            "ProcessConfig": {"tty": self.tty, "entrypoint": cmd[0], "arguments": cmd[1:],
                              "privileged": bool(self.body.get("Privileged")),
                              "user": self.body.get("User") or ""},
            "OpenStdin": bool(self.body.get("AttachStdin")),
            "OpenStderr": bool(self.body.get("AttachStderr")),
            "OpenStdout": bool(self.body.get("AttachStdout")),
            "CanRemove": False, "ContainerID": self.container_id,
            "DetachKeys": self.body.get("DetachKeys") or "", "Pid": self.pid,
        }


class ExecService:
    def __init__(self, containers: ContainerService, events: EventBus) -> None:
        self.containers = containers
        self.events = events
        self._execs: dict[str, Exec] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    def get(self, exec_id: str) -> Exec:
        try:
            return self._execs[exec_id]
        except KeyError:
            raise NotFound(f"No such exec instance: {exec_id}") from None

    def _running_container(self, ref: str) -> Any:
        c = self.containers.get(ref)
        if not c.running:
            raise Conflict(f"Container {c.id} is not running")
        if c.state["Paused"]:
            raise Conflict(f"Container {c.id} is paused, unpause the container before exec")
        return c

    def create(self, ref: str, body: Any) -> str:
        if not isinstance(body, dict):
            raise InvalidParameter("invalid JSON: the body must be an object")
        c = self._running_container(ref)
        cmd = body.get("Cmd")
        if isinstance(cmd, str):
            cmd = [cmd]
        if not cmd or not all(isinstance(a, str) for a in cmd):
            raise InvalidParameter("No exec command specified")
        # Go's JSON is case-insensitive: docker-py sends "detachKeys"
        keys = next((v for k, v in body.items() if k.lower() == "detachkeys"), None) or ""
        if keys:
            try:
                detachkeys.parse(keys)
            except ValueError:
                raise InvalidParameter(f"Invalid escape keys ({keys}) provided") from None
        # The start moves a process into the container's cgroup: its RCU grace period
        # (``cgroups.prime_moves``) is paid from now, while the client sends the start.
        asyncio.get_running_loop().run_in_executor(None, cgroups.prime_moves)
        self._forget_gone()
        ex = Exec(secrets.token_hex(32), c.id, {**body, "Cmd": cmd, "DetachKeys": keys})
        self._execs[ex.id] = ex
        self.events.publish("container", "exec_create: " + " ".join(cmd), c.id,
                            c.event_attributes(execID=ex.id))
        return ex.id

    def _forget_gone(self) -> None:
        """Execs of removed containers are not kept forever."""
        live = {c.id for c in self.containers.all()}
        for exec_id, ex in list(self._execs.items()):
            if ex.container_id not in live:
                del self._execs[exec_id]

    def _process(self, c: Any, ex: Exec) -> dict[str, Any]:
        bundle = self.containers.bundle(c)
        with open(os.path.join(bundle, "config.json")) as f:
            process = json.load(f)["process"]
        body = ex.body
        rootfs = rootfs_path(bundle)
        if body.get("User"):
            uid, gid, gids = parse_user(body["User"], rootfs)
            process["user"] = {"uid": uid, "gid": gid, "additionalGids": gids}
        env = process_env(c, ex.tty) + list(body.get("Env") or [])
        process.update(args=body["Cmd"], env=with_home(env, process["user"]["uid"], rootfs),
                       terminal=ex.tty, cwd=body.get("WorkingDir") or process.get("cwd") or "/")
        height, width = body.get("ConsoleSize") or (0, 0)
        if ex.tty and height and width:
            process["consoleSize"] = {"height": height, "width": width}
        else:
            process.pop("consoleSize", None)
        return process

    def startable(self, exec_id: str) -> Exec:
        """The exec, if it may start now (else 404 or 409, before any hijack)."""
        ex = self.get(exec_id)
        if ex.started:
            raise Conflict(f"Error: Exec command {exec_id} has already run")
        self._running_container(ex.container_id)
        return ex

    async def start(self, ex: Exec) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        """Start the exec; returns the shim stream (frames out, raw stdin in)."""
        c = self._running_container(ex.container_id)
        ex.started = True
        asyncio.get_running_loop().run_in_executor(None, cgroups.prime_moves)  # see there
        process = await asyncio.to_thread(self._process, c, ex)
        reader, writer, answer = await shims.open_request(self.containers.bundle(c), {
            "op": "exec", "id": ex.id, "process": process, "tty": ex.tty,
            "stdin": bool(ex.body.get("AttachStdin"))})
        if not answer.get("ok"):
            writer.close()
            ex.exit_code = {"not_found": 127, "permission": 126}.get(answer.get("kind", ""), 126)
            raise InvalidParameter(
                f"OCI runtime exec failed: exec failed: {answer.get('error', 'unknown')}: unknown")
        ex.running, ex.pid = True, int(answer.get("pid") or 0)
        cmd = " ".join(ex.body["Cmd"])
        self.events.publish("container", "exec_start: " + cmd, c.id,
                            c.event_attributes(execID=ex.id))
        return reader, writer

    def finished(self, ex: Exec, exit_code: int) -> None:
        """Record the exit the shim reported at the end of the exec stream."""
        ex.running, ex.exit_code = False, exit_code
        try:
            c = self.containers.get(ex.container_id)
        except NotFound:
            return
        self.events.publish("container", "exec_die", c.id,
                            c.event_attributes(execID=ex.id, exitCode=exit_code))

    def detached(self, ex: Exec) -> None:
        """The client typed the detach keys: the process runs on (dockerd's event)."""
        try:
            c = self.containers.get(ex.container_id)
        except NotFound:
            return
        self.events.publish("container", "exec_detach", c.id, c.event_attributes(execID=ex.id))

    async def run(self, ref: str, cmd: list[str], timeout: float | None,
                  on_output: Callable[[int, bytes], None]) -> int:
        """Run ``cmd`` in the container to its end, for the daemon itself (the CRI's
        ExecSync, health probes): its output handed to ``on_output(stream, payload)``,
        its exit code returned (-1 when the shim reported none). Past ``timeout``
        seconds (None: no limit) the process is killed, as dockerd kills a probe
        that timed out (none runs on with nobody reading it), and
        ``asyncio.TimeoutError`` raised."""
        ex = self.get(self.create(ref, {"Cmd": cmd, "AttachStdout": True, "AttachStderr": True}))
        reader, writer = await self.start(ex)
        out = frames.Output(reader)

        async def drain() -> None:
            async for stream, payload in out:
                on_output(stream, payload)
        try:
            await asyncio.wait_for(drain(), timeout)
        except asyncio.TimeoutError:
            if ex.pid:
                _kill(ex.pid)
            raise
        finally:
            writer.close()
            self.finished(ex, out.exit_code(-1))
        return out.exit_code(-1)

    def track(self, ex: Exec, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """A detached exec: drain its stream in the background to learn its exit code."""
        async def drain() -> None:
            out = frames.Output(reader)
            try:
                async for _ in out:
                    pass
            finally:
                writer.close()
                self.finished(ex, out.exit_code(126))
        self._tasks.add(task := asyncio.ensure_future(drain()))
        task.add_done_callback(self._tasks.discard)

    async def resize(self, exec_id: str, height: int, width: int) -> None:
        ex = self.get(exec_id)
        c = self.containers.get(ex.container_id)
        await shims.call(self.containers.bundle(c), {"op": "exec_resize", "id": ex.id,
                                                     "height": height, "width": width})


def _kill(pid: int) -> None:
    """SIGKILL to an exec's process; one that has exited already needs none."""
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
