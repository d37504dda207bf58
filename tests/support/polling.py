"""Waiting for what a daemon does in the background (a veth deleted after the
answer, a listener dropped when its client goes): look again until it holds."""

from __future__ import annotations

import time
from typing import Callable


def eventually(check: Callable[[], bool], timeout: float = 10.0, interval: float = 0.1) -> bool:
    """True as soon as ``check()`` is; its last answer once ``timeout`` seconds passed."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(interval)
    return check()
