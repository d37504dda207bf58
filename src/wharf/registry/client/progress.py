"""Docker's JSON progress messages for pull and push, as the docker CLI renders them.

Each message is one JSON object on its own line: ``{"status", "id"}`` for
a state change of one layer, plus ``progressDetail`` ``{current, total}``
and a ready-drawn ``progress`` bar while bytes move; errors are
``{"errorDetail": {"message"}, "error"}``. Byte counts are throttled to a
few per second per layer so a fast download does not flood the socket.
"""

from __future__ import annotations

import time
from typing import Any, Callable

Emit = Callable[[dict[str, Any]], None]
BAR_WIDTH = 50
_INTERVAL = 0.1
_UNITS = ("B", "kB", "MB", "GB", "TB", "PB")


def short(digest: str) -> str:
    """The 12-hex ID Docker shows for a layer."""
    return digest.split(":", 1)[-1][:12]


def human_size(size: float) -> str:
    """Docker's units.HumanSize: decimal units, four significant digits (``12.35MB``)."""
    unit = 0
    while size >= 1000 and unit < len(_UNITS) - 1:
        size /= 1000
        unit += 1
    return f"{size:.4g}{_UNITS[unit]}"


def bar(current: int, total: int) -> str:
    """``[=====>      ]  12.3MB/100MB`` (only the number when the total is unknown)."""
    if total <= 0:
        return f"{human_size(current):>8}"
    filled = min(int(current / total * 100) // 2, BAR_WIDTH)
    return f"[{'=' * filled}>{' ' * (BAR_WIDTH - filled)}] {human_size(current):>8}/{human_size(total)}"


def status(text: str, id: str | None = None) -> dict[str, Any]:
    msg: dict[str, Any] = {"status": text}
    if id is not None:
        msg["progressDetail"] = {}
        msg["id"] = id
    return msg


def retrying(delay: int, id: str) -> dict[str, Any]:
    """The pause before a layer's next try, as dockerd words it."""
    return status(f"Retrying in {delay} second{'s' if delay != 1 else ''}", id)


def error(message: str) -> dict[str, Any]:
    return {"errorDetail": {"message": message}, "error": message}


class Meter:
    """Byte progress of one layer in one phase (``Downloading``, ``Extracting``, ``Pushing``)."""

    def __init__(self, emit: Emit, id: str, action: str, total: int) -> None:
        self._emit, self.id, self.action, self.total = emit, id, action, total
        self.current = 0
        self._last = 0.0

    def add(self, n: int) -> None:
        self.current += n
        now = time.monotonic()
        if now - self._last >= _INTERVAL or self.current >= self.total > 0:
            self._last = now
            self._emit({"status": self.action, "progressDetail": {"current": self.current, "total": self.total},
                        "progress": bar(self.current, self.total), "id": self.id})
