"""The Engine API versions wharfd speaks, and the one each request asked for.

wharfd serves API 1.12 to 1.43, as dockerd 24 does. A client names its
version in the path (``/v1.41/containers/json``; none: the newest), is
refused outside that range in dockerd's words (clients negotiate down from
``/_ping``'s ``Api-Version``), and gets each route's answer as that version
had it: the handlers that differ between versions ask ``at_least(request,
"1.42")``, dockerd's ``versions.GreaterThanOrEqualTo(httputils.VersionFromContext(ctx), ...)``.
"""

from __future__ import annotations

from aiohttp import web

from wharf import MIN_API_VERSION
from wharf.errors import InvalidParameter

API_VERSION = "1.43"


def _parts(version: str) -> tuple[int, ...]:
    return tuple(int(p) for p in version.split(".") if p.isdigit())


def check(version: str | None) -> None:
    """Refuse a requested version outside [MIN_API_VERSION, API_VERSION] as dockerd does."""
    if not version:
        return
    if _parts(version) > _parts(API_VERSION):
        raise InvalidParameter(f"client version {version} is too new. "
                               f"Maximum supported API version is {API_VERSION}")
    if _parts(version) < _parts(MIN_API_VERSION):
        raise InvalidParameter(f"client version {version} is too old. Minimum supported API "
                               f"version is {MIN_API_VERSION}, please upgrade your client to a "
                               f"newer version")


def of(request: web.Request) -> str:
    """The version ``request`` speaks: its path's, else the newest."""
    return request.match_info.get("api_version") or API_VERSION


def at_least(request: web.Request, version: str) -> bool:
    return _parts(of(request)) >= _parts(version)
