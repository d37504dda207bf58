"""HEALTHCHECK: probes run in running containers, as Docker's health monitor does.

A container whose config has a ``Healthcheck`` (from its image or ``run``)
gets ``State.Health`` when it starts: ``starting`` until a probe passes,
``healthy`` after each passing probe, ``unhealthy`` after ``Retries``
failures in a row (failures during ``StartPeriod`` do not count). A probe is
an exec of the test command (``CMD`` as is, ``CMD-SHELL`` through the
image's shell), killed off after ``Timeout``; the last five results are kept
in ``State.Health.Log``. The monitor stops when the container does.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

from wharf.build import durations
from wharf.engine.timefmt import rfc3339nano

log = logging.getLogger("wharf.health")

_SECOND = 1_000_000_000
DEFAULT_INTERVAL = 30 * _SECOND
DEFAULT_TIMEOUT = 30 * _SECOND
DEFAULT_RETRIES = 3
_LOG_ENTRIES = 5
_OUTPUT_MAX = 4096


def probe_command(health: dict[str, Any] | None, shell: list[str] | None) -> list[str] | None:
    """The argv a probe runs, or None when there is no check (none set, or ``NONE``)."""
    test = list((health or {}).get("Test") or [])
    if not test or test[0] == "NONE":
        return None
    if test[0] == "CMD":
        return test[1:] or None
    if test[0] == "CMD-SHELL":
        return list(shell or ["/bin/sh", "-c"]) + [" ".join(test[1:])]
    return None


def merged(config: dict[str, Any] | None, image: dict[str, Any] | None) -> dict[str, Any] | None:
    """A container's check: its own (``run --health-*``) with the image's filling the gaps."""
    if not config:
        return dict(image) if image else None
    out = dict(config)
    for key, value in (image or {}).items():
        if not out.get(key):
            out[key] = value
    return out


def status_suffix(state: dict[str, Any]) -> str:
    """What ``ps`` adds to ``Up 5 seconds``: `` (healthy)``, `` (health: starting)``."""
    status = (state.get("Health") or {}).get("Status")
    if not status:
        return ""
    return " (health: starting)" if status == "starting" else f" ({status})"


class HealthMonitor:
    def __init__(self, execs: Any, events: Any) -> None:
        self.execs, self.events = execs, events
        self._tasks: dict[str, asyncio.Task[None]] = {}

    def watch(self, c: Any) -> None:
        """Start probing a container that has just started (if it has a check)."""
        health = c.config.get("Healthcheck")
        cmd = probe_command(health, c.config.get("Shell"))
        c.state.pop("Health", None)
        if cmd is None:
            return
        c.state["Health"] = {"Status": "starting", "FailingStreak": 0, "Log": []}
        self.stop(c)
        self._tasks[c.id] = asyncio.ensure_future(self._loop(c, cmd, health))

    def stop(self, c: Any) -> None:
        task = self._tasks.pop(c.id, None)
        if task is not None:
            task.cancel()

    async def _loop(self, c: Any, cmd: list[str], health: dict[str, Any]) -> None:
        interval = (health.get("Interval") or DEFAULT_INTERVAL) / 1e9
        timeout = (health.get("Timeout") or DEFAULT_TIMEOUT) / 1e9
        retries = health.get("Retries") or DEFAULT_RETRIES
        grace_until = time.monotonic() + (health.get("StartPeriod") or 0) / 1e9
        try:
            while c.state.get("Running"):
                await asyncio.sleep(interval)
                if not c.state.get("Running"):
                    return
                start = rfc3339nano(time.time_ns())
                code, output = await self._probe(c, cmd, timeout)
                self._record(c, {"Start": start, "End": rfc3339nano(time.time_ns()),
                                 "ExitCode": code, "Output": output},
                             retries, time.monotonic() < grace_until)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("health check of %s", c.id)
        finally:
            if self._tasks.get(c.id) is asyncio.current_task():
                del self._tasks[c.id]

    async def _probe(self, c: Any, cmd: list[str], timeout: float) -> tuple[int, str]:
        """Run the test once: (exit code, output); -1 when it could not run or timed out."""
        output = bytearray()

        def collect(stream: int, payload: bytes) -> None:
            output.extend(payload[:_OUTPUT_MAX - len(output)])
        try:
            code = await self.execs.run(c.id, cmd, timeout, collect)
        except asyncio.TimeoutError:
            return -1, f"Health check exceeded timeout ({durations.format(round(timeout * 1e9))})"
        except Exception as e:
            return -1, str(getattr(e, "message", e))
        return code, output.decode("utf-8", "replace")

    def _record(self, c: Any, result: dict[str, Any], retries: int, in_grace: bool) -> None:
        health = c.state.get("Health")
        if health is None or not c.state.get("Running"):
            return
        before = health["Status"]
        health["Log"] = (health["Log"] + [result])[-_LOG_ENTRIES:]
        if result["ExitCode"] == 0:
            health.update(Status="healthy", FailingStreak=0)
        elif not in_grace:
            health["FailingStreak"] += 1
            if health["FailingStreak"] >= retries:
                health["Status"] = "unhealthy"
        if health["Status"] != before:
            self.events.publish("container", "health_status: " + health["Status"], c.id,
                                c.event_attributes())
