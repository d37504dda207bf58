"""Restart policies (``--restart``) with Docker's restart manager rules.

Backoff: 100 ms after the first exit, doubled on each quick exit, capped at
one minute, and reset when the container ran for 10 s or more. A container
stopped by the user (stop, kill) is never restarted by a policy.
"""

from __future__ import annotations

from dataclasses import dataclass

from wharf.engine.container import Container

INITIAL_DELAY = 0.1
MAX_DELAY = 60.0
RESET_AFTER = 10.0


@dataclass
class RestartPolicy:
    name: str
    max_retries: int

    @classmethod
    def of(cls, c: Container) -> "RestartPolicy":
        policy = c.host_config.get("RestartPolicy") or {}
        return cls(policy.get("Name") or "no", int(policy.get("MaximumRetryCount") or 0))

    def wants(self, c: Container, exit_code: int) -> bool:
        """Whether this exit calls for a restart, by policy alone."""
        if c.private.get("ManuallyStopped"):
            return False
        if self.name in ("always", "unless-stopped"):
            return True
        if self.name == "on-failure":
            return exit_code != 0 and (self.max_retries == 0 or
                                       c.record["RestartCount"] < self.max_retries)
        return False

    def next_delay(self, c: Container, exit_code: int, ran: float) -> float | None:
        """Seconds to wait before restarting after this exit, or None for no restart."""
        if not self.wants(c, exit_code):
            c.private.pop("Backoff", None)
            return None
        previous = c.private.get("Backoff") or 0.0
        delay = INITIAL_DELAY if ran >= RESET_AFTER or not previous else min(previous * 2, MAX_DELAY)
        c.private["Backoff"] = delay
        return delay

    def on_boot(self, c: Container) -> bool:
        """At daemon start: bring back what the policy says should be running."""
        if c.private.get("ManuallyStopped") or c.state["StartedAt"].startswith("0001"):
            return False
        return self.wants(c, c.state["ExitCode"])
