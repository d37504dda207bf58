"""Errors shared by every layer, each carrying the HTTP status Docker uses for it.

The engine raises these; the API layer turns them into ``{"message": ...}``
bodies with ``status``; the CLI prints ``Error response from daemon: ...``.
Keeping the status on the error (not in a table in the API layer) means a
domain module decides once what kind of failure it is.
"""

from __future__ import annotations

import os


class WharfError(Exception):
    """Base error: an internal failure unless a subclass says otherwise."""

    status = 500

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class InvalidParameter(WharfError):
    """Bad input from the caller (Docker's errdefs.InvalidParameter)."""

    status = 400


class Unauthorized(WharfError):
    status = 401


class Forbidden(WharfError):
    status = 403


class NotFound(WharfError):
    """No such container, image, network, volume or exec."""

    status = 404


class Conflict(WharfError):
    """Name in use, container running, image in use."""

    status = 409


class TooLarge(WharfError):
    """A request body over its limit (a JSON body is read whole, so it has one)."""

    status = 413


class NotModified(WharfError):
    """Start of a running container, stop of a stopped one (Docker answers 304)."""

    status = 304


class Unavailable(WharfError):
    status = 503


def describe(error: BaseException) -> str:
    """What a client is told of an error: a ``WharfError``'s message; an ``OSError``
    in Go's words (``/var/lib/wharf/...: no space left on device``), never Python's
    ``[Errno 28] No space left on device: '...'``; anything else, its text."""
    if isinstance(error, WharfError):
        return error.message
    if isinstance(error, OSError) and error.errno:
        text = os.strerror(error.errno).lower()
        paths = " ".join(str(p) for p in (error.filename, error.filename2) if p is not None)
        return f"{paths}: {text}" if paths else text
    return str(error) or type(error).__name__
