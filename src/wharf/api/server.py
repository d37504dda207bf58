"""The HTTP server around the API app: aiohttp's, with dockerd's limits.

* A request's headers must arrive within ``HEADER_TIMEOUT`` of the connection
  (or of the previous answer on a kept-alive one): dockerd's ``http.Server``
  has ``ReadHeaderTimeout: 5 * time.Minute``, which Go also applies to idle
  keep-alive connections. aiohttp's keep-alive timer is that rule: it starts
  at connect and closes a connection that has no whole request yet, so
  slowloris clients trickling header bytes go, while a request whose
  headers came (a build context uploading for an hour) is never cut.
* A chunked request body that turns malformed after its handler started
  gets an answer: aiohttp's C parser queues the error as a next request and
  leaves the handler waiting for the rest of the body forever. ``_Protocol``
  hands the error to the body instead, so the handler's read fails and the
  client gets Docker's ``{"message"}`` with 400, then the connection closes.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web
from aiohttp.web_protocol import RequestHandler, _ErrInfo

from wharf.api.app import make_app
from wharf.errors import InvalidParameter

#: seconds, dockerd's ReadHeaderTimeout
HEADER_TIMEOUT = 300.0


class _Protocol(RequestHandler):
    """aiohttp's protocol, but a framing error inside a body fails that body's reader."""

    def data_received(self, data: bytes) -> None:
        queued = len(self._messages)
        super().data_received(data)
        if len(self._messages) <= queued or not isinstance(self._messages[-1][0], _ErrInfo):
            return
        if len(self._messages) > 1:
            body = self._messages[-2][1]  # a request not yet handled, its body cut by the error
        elif self._current_request is not None:
            body = self._current_request.content
        else:
            return  # an error between requests: aiohttp's own 400 answers it
        if body.is_eof():
            return
        self._messages.pop()
        body.set_exception(InvalidParameter("malformed chunked encoding"))
        body.feed_eof()  # nothing is left to read (or to linger for) after the answer
        self.close()


class _Server(web.Server):
    def __call__(self) -> RequestHandler:
        return _Protocol(self, loop=self._loop, **self._kwargs)


class _Runner(web.AppRunner):
    async def _make_server(self) -> web.Server:
        server = await super()._make_server()
        server.__class__ = _Server  # the same server, making our protocol
        return server


def make_runner(engine: Any, header_timeout: float = HEADER_TIMEOUT) -> web.AppRunner:
    """The runner the daemon's listeners serve the API with."""
    return _Runner(make_app(engine), shutdown_timeout=1.0, access_log=None,
                   keepalive_timeout=header_timeout)
