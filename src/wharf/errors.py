"""Errors shared by every layer, each carrying the HTTP status Docker uses for it.

The engine raises these; the API layer turns them into ``{"message": ...}``
bodies with ``status``; the CLI prints ``Error response from daemon: ...``.
Keeping the status on the error (not in a table in the API layer) means a
domain module decides once what kind of failure it is.
"""

from __future__ import annotations


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
