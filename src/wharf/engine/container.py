"""One container's record and the views Docker derives from it.

The record is Docker's inspect document (``config.v2.json`` on disk has the
same shape) plus a private ``Wharf`` section for what inspect does not show
(manual stop, image reference as typed). Keeping the wire shape as the
storage shape means inspect is a copy, and a record written by an older
wharfd is still readable field by field.
"""

from __future__ import annotations

import asyncio
import copy
import os
import re
import time
from typing import Any

from wharf.engine import health
from wharf.engine.timefmt import ZERO_TIME, parse_rfc3339
from wharf.humanize import human_duration
from wharf.network.ports import summary_ports

PRIVATE = "Wharf"


def new_state() -> dict[str, Any]:
    return {"Status": "created", "Running": False, "Paused": False, "Restarting": False,
            "OOMKilled": False, "Dead": False, "Pid": 0, "ExitCode": 0, "Error": "",
            "StartedAt": ZERO_TIME, "FinishedAt": ZERO_TIME}


#: Fields a broken record may still show (it is Docker's inspect shape, in this order).
_RECOVERABLE = {"Created": r'"Created":"([^"]+)"', "Image": r'"Image":"(sha256:[0-9a-f]{64})"',
                "Name": r'"Name":"/([a-zA-Z0-9][a-zA-Z0-9_.-]*)"',
                "LogPath": r'"LogPath":"([^"]+)"'}


def dead_record(cid: str, text: str, created: str, error: str) -> dict[str, Any]:
    """The record of a container whose ``config.v2.json`` is torn or not JSON: listed as
    ``dead`` (Docker's word for a container it cannot use), so ``rm -f`` can clean it. Its
    name, image and creation time come from what the text still holds, when it does."""
    found = {key: m.group(1) for key, pattern in _RECOVERABLE.items()
             if (m := re.search(pattern, text))}
    return {
        "Id": cid, "Created": found.get("Created", created), "Path": "", "Args": [],
        "State": {**new_state(), "Status": "dead", "Dead": True, "Error": error},
        "Image": found.get("Image", ""), "Name": "/" + found.get("Name", cid[:12]),
        "LogPath": found.get("LogPath", ""), "RestartCount": 0,
        "HostConfig": {"NetworkMode": "none", "RestartPolicy": {"Name": "no"}},
        "Config": {"Image": found.get("Image", ""), "Labels": {}},
        "NetworkSettings": {"Networks": {}, "Ports": {}}, "Mounts": [], PRIVATE: {"Broken": True},
    }


def state_word(state: dict[str, Any]) -> str:
    """Docker's State.StateString(): created, running, paused, restarting, exited, dead."""
    if state.get("Running"):
        if state.get("Paused"):
            return "paused"
        if state.get("Restarting"):
            return "restarting"
        return "running"
    if state.get("RemovalInProgress"):
        return "removing"
    if state.get("Dead"):
        return "dead"
    if state.get("StartedAt", ZERO_TIME) == ZERO_TIME:
        return "created"
    return "exited"


def status_text(state: dict[str, Any], now: float | None = None) -> str:
    """The STATUS column of ``docker ps`` (Docker's State.String())."""
    now = time.time() if now is None else now

    def ago(stamp: str) -> str:
        return human_duration(now - parse_rfc3339(stamp) / 1e9)

    if state.get("Running"):
        if state.get("Paused"):
            return f"Up {ago(state['StartedAt'])} (Paused)"
        if state.get("Restarting"):
            return f"Restarting ({state['ExitCode']}) {ago(state['FinishedAt'])} ago"
        return f"Up {ago(state['StartedAt'])}{health.status_suffix(state)}"
    if state.get("RemovalInProgress"):
        return "Removal In Progress"
    if state.get("Dead"):
        return "Dead"
    if state.get("StartedAt", ZERO_TIME) == ZERO_TIME:
        return "Created"
    if state.get("FinishedAt", ZERO_TIME) == ZERO_TIME:
        return ""
    return f"Exited ({state['ExitCode']}) {ago(state['FinishedAt'])} ago"


def command_line(path: str, args: list[str]) -> str:
    """The COMMAND column as dockerd builds it: args with a space get single quotes."""
    return " ".join([path, *(f"'{a}'" if " " in a else a for a in args)])


class Container:
    """A container record plus the daemon-side synchronisation around it."""

    def __init__(self, record: dict[str, Any], directory: str) -> None:
        self.record = record
        self.dir = directory
        #: Serialises every state change of this container (start, stop, rm, ...).
        self.lock = asyncio.Lock()
        #: Futures woken at the next "start", "exit" or "removed" of this container.
        self._waiters: dict[str, set[asyncio.Future[dict[str, Any]]]] = {
            "start": set(), "exit": set(), "removed": set()}
        #: Task watching the shim for the current run, if any.
        self.monitor: asyncio.Task[None] | None = None
        #: Pending restart (policy backoff), cancelled by stop/rm.
        self.restart_task: asyncio.Task[None] | None = None
        #: Attach streams being served; set when there are none.
        self._attaches = 0
        self._no_attaches = asyncio.Event()
        self._no_attaches.set()

    # -- identity --------------------------------------------------------
    @property
    def id(self) -> str:
        return self.record["Id"]

    @property
    def name(self) -> str:
        """Without the leading slash."""
        return self.record["Name"].lstrip("/")

    @property
    def state(self) -> dict[str, Any]:
        return self.record["State"]

    @property
    def config(self) -> dict[str, Any]:
        return self.record["Config"]

    @property
    def host_config(self) -> dict[str, Any]:
        return self.record["HostConfig"]

    @property
    def private(self) -> dict[str, Any]:
        return self.record.setdefault(PRIVATE, {})

    @property
    def running(self) -> bool:
        return bool(self.state["Running"]) and not self.state.get("Restarting")

    @property
    def record_path(self) -> str:
        return os.path.join(self.dir, "config.v2.json")

    def event_attributes(self, **extra: Any) -> dict[str, str]:
        """Docker's container event attributes: image, name and the labels."""
        attrs = {k: str(v) for k, v in (self.config.get("Labels") or {}).items()}
        attrs.update(image=self.config.get("Image", ""), name=self.name)
        attrs.update({k: str(v) for k, v in extra.items()})
        return attrs

    # -- waiting ---------------------------------------------------------
    def waiter(self, what: str) -> asyncio.Future[dict[str, Any]]:
        """A future for the next ``what`` ("start", "exit", "removed"); it gets the exit result."""
        fut: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        waiters = self._waiters[what]
        waiters.add(fut)
        # a wait whose client went is forgotten now, not at the container's next exit
        fut.add_done_callback(lambda f: f.cancelled() and waiters.discard(f))
        return fut

    def attach_opened(self) -> None:
        self._attaches += 1
        self._no_attaches.clear()

    def attach_closed(self) -> None:
        self._attaches -= 1
        if not self._attaches:
            self._no_attaches.set()

    @property
    def attached(self) -> bool:
        """An attach stream is open (one made before the start waits for it)."""
        return self._attaches > 0

    async def attaches_done(self, timeout: float) -> None:
        """Until the attach streams end (at most ``timeout``): an auto-remove waits, so
        that a stream which reached the shim too late still replays the output from
        the log before the log goes with the container."""
        try:
            await asyncio.wait_for(self._no_attaches.wait(), timeout)
        except asyncio.TimeoutError:
            pass

    def exit_result(self) -> dict[str, Any]:
        error = self.state.get("Error") or None
        return {"StatusCode": self.state["ExitCode"],
                "Error": {"Message": error} if error else None}

    def notify(self, *whats: str) -> None:
        result = self.exit_result()
        for what in whats:
            for fut in self._waiters[what]:
                if not fut.done():
                    fut.set_result(result)
            self._waiters[what].clear()

    # -- views -----------------------------------------------------------
    def inspect(self) -> dict[str, Any]:
        """``GET /containers/{id}/json``: the record without private fields."""
        out = copy.deepcopy({k: v for k, v in self.record.items() if k != PRIVATE})
        out["State"]["Status"] = state_word(self.state)
        return out

    def summary(self, size_rw: int | None = None) -> dict[str, Any]:
        """One entry of ``GET /containers/json``."""
        rec = self.record
        out = {
            "Id": self.id, "Names": [rec["Name"]], "Image": self.config.get("Image", ""),
            "ImageID": rec["Image"], "Command": command_line(rec["Path"], rec["Args"]),
            "Created": int(parse_rfc3339(rec["Created"]) / 1e9),
            "Ports": summary_ports(rec.get("NetworkSettings", {}).get("Ports")),
            "Labels": dict(self.config.get("Labels") or {}),
            "State": state_word(self.state), "Status": status_text(self.state),
            "HostConfig": {"NetworkMode": self.host_config.get("NetworkMode", "default")},
            "NetworkSettings": {"Networks": copy.deepcopy(
                rec.get("NetworkSettings", {}).get("Networks") or {})},
            "Mounts": copy.deepcopy(rec.get("Mounts") or []),
        }
        if size_rw is not None:
            out["SizeRw"] = size_rw
            out["SizeRootFs"] = size_rw
        return out
