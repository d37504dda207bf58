"""The one error a command raises to stop with a message and docker's exit code."""

from __future__ import annotations


class CommandError(Exception):
    """Print ``message`` to stderr and exit ``status`` (1 unless docker uses another)."""

    def __init__(self, message: str, status: int = 1) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
