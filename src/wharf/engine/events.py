"""The daemon's event stream (``docker events``): publish once, fan out to
every subscriber, and keep a short history so ``--since`` can look back.

Events have Docker's JSON shape, including the deprecated ``status``/``id``/
``from`` fields that old clients (and the docker CLI's formatter) still read.
Everything runs on the event loop: ``publish`` is synchronous and cheap.
"""

from __future__ import annotations

import asyncio
import collections
import time
from typing import AsyncIterator, Mapping

from wharf.engine import filters as flt

EVENT_FILTERS = ("container", "event", "image", "label", "type", "network", "volume",
                 "daemon", "plugin", "node", "service", "secret", "config", "scope")
HISTORY = 256


def _matches(event: dict, f: flt.Filters) -> bool:
    actor = event["Actor"]
    attrs = actor["Attributes"]
    kind = event["Type"]
    if not flt.match_any(kind, f.get("type")):
        return False
    if not flt.match_any(event["Action"], f.get("event")) and not (
            f.get("event") and event["Action"].split(":")[0] in f["event"]):
        return False
    if "container" in f and not (kind == "container" and any(
            actor["ID"].startswith(v) or attrs.get("name") == v.lstrip("/") for v in f["container"])):
        return False
    if "image" in f and not any(
            v in (attrs.get("image"), attrs.get("name") if kind == "image" else None,
                  actor["ID"] if kind == "image" else None) for v in f["image"]):
        return False
    for key in ("network", "volume"):
        if key in f and not (kind == key and any(
                v in (actor["ID"], attrs.get("name")) for v in f[key])):
            return False
    if "label" in f and not flt.match_labels(attrs, f["label"]):
        return False
    return True


class EventBus:
    """Fan-out of Docker-shaped events to ``docker events`` streams."""

    def __init__(self) -> None:
        self._history: collections.deque[dict] = collections.deque(maxlen=HISTORY)
        self._subscribers: set[asyncio.Queue[dict]] = set()

    @property
    def listeners(self) -> int:
        """Open ``docker events`` streams (``docker info``'s NEventsListener)."""
        return len(self._subscribers)

    def publish(self, type: str, action: str, actor_id: str,
                attributes: Mapping[str, str] | None = None) -> dict:
        now = time.time_ns()
        event: dict = {}
        if type in ("container", "image"):
            event.update(status=action, id=actor_id)
            if type == "container":
                event["from"] = (attributes or {}).get("image", "")
        event.update({
            "Type": type, "Action": action,
            "Actor": {"ID": actor_id, "Attributes": dict(attributes or {})},
            "scope": "local", "time": now // 1_000_000_000, "timeNano": now,
        })
        self._history.append(event)
        for queue in self._subscribers:
            queue.put_nowait(event)
        return event

    async def subscribe(self, since: float | None = None, until: float | None = None,
                        filters: flt.Filters | None = None) -> AsyncIterator[dict]:
        """Past events from ``since`` on, then live ones until ``until`` (seconds)."""
        f = filters or {}
        queue: asyncio.Queue[dict] = asyncio.Queue()
        backlog = list(self._history) if since is not None else []
        self._subscribers.add(queue)
        try:
            for event in backlog:
                t = event["timeNano"] / 1e9
                if t >= since and (until is None or t <= until) and _matches(event, f):
                    yield event
            while True:
                timeout = None if until is None else until - time.time()
                if timeout is not None and timeout <= 0:
                    return
                try:
                    event = await asyncio.wait_for(queue.get(), timeout)
                except asyncio.TimeoutError:
                    return
                if until is not None and event["timeNano"] / 1e9 > until:
                    return
                if _matches(event, f):
                    yield event
        finally:
            self._subscribers.discard(queue)
