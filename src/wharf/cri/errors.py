"""wharf's errors as gRPC statuses: every CRI method answers in them."""

from __future__ import annotations

import functools
import logging
from typing import Any, Awaitable, Callable, TypeVar

import grpc

from wharf.errors import Conflict, InvalidParameter, NotFound, WharfError, describe

log = logging.getLogger("wharf.cri")
T = TypeVar("T")
_CODES = {NotFound: grpc.StatusCode.NOT_FOUND, InvalidParameter: grpc.StatusCode.INVALID_ARGUMENT,
          Conflict: grpc.StatusCode.FAILED_PRECONDITION}


def code_of(error: WharfError) -> grpc.StatusCode:
    return next((code for kind, code in _CODES.items() if isinstance(error, kind)),
                grpc.StatusCode.UNKNOWN)


def answering(method: Callable[..., Awaitable[T]]) -> Callable[..., Awaitable[T]]:
    """Abort the call with the error's status and words (a bug: UNKNOWN, logged)."""
    @functools.wraps(method)
    async def run(self: Any, request: Any, context: grpc.aio.ServicerContext) -> T:
        try:
            return await method(self, request, context)
        except WharfError as e:
            await context.abort(code_of(e), e.message)
        except OSError as e:
            await context.abort(grpc.StatusCode.UNKNOWN, describe(e))
        except Exception as e:
            log.exception("CRI %s", method.__name__)
            await context.abort(grpc.StatusCode.UNKNOWN, f"{type(e).__name__}: {e}")
        raise AssertionError("abort returns by raising")
    return run
