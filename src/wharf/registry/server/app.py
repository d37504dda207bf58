"""The aiohttp application: routing of /v2/ paths, auth, error bodies, listings, the token endpoint.

Repository names contain slashes, so one catch-all route takes every /v2/
path and ``ROUTES`` (ordered: uploads before blobs) splits it into a name
and an argument. The name is checked against the grammar before anything
else, the caller's grant against the scope the request needs, then the
handler runs. Every failure a client can cause is a ``RegistryError``,
rendered by the middleware; nothing malformed reaches a 500.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from typing import Awaitable, Callable
from urllib.parse import urlencode, urlparse

from aiohttp import web

from wharf.registry.server import blobs, manifest_routes
from wharf.registry.server.auth import Authenticator, Htpasswd, Scope, Tokens, basic_credentials
from wharf.registry.server.context import Ctx
from wharf.registry.server.errors import RegistryError
from wharf.registry.server.names import check_name
from wharf.registry.server.storage import Storage

Handler = Callable[[Ctx], Awaitable[web.StreamResponse]]
STORAGE = web.AppKey("storage", Storage)
AUTH = web.AppKey("auth", Authenticator)
STATE = web.AppKey("state", dict)


@dataclass
class ServerConfig:
    root: str
    htpasswd: str | None = None
    #: Bearer mode: the URL clients are sent to for tokens (served here at its path)
    token_realm: str | None = None
    token_service: str = "wharf-registry"


async def base(ctx: Ctx) -> web.StreamResponse:
    return web.json_response({})


async def catalog(ctx: Ctx) -> web.StreamResponse:
    names = await ctx.disk(ctx.storage.repositories)
    page, link = _paginate(ctx.request, names, "/v2/_catalog")
    return web.json_response({"repositories": page}, headers=link)


async def tags_list(ctx: Ctx) -> web.StreamResponse:
    tags = await ctx.disk(ctx.storage.tags, ctx.name)
    if tags is None:
        raise RegistryError("NAME_UNKNOWN", detail={"name": ctx.name})
    page, link = _paginate(ctx.request, tags, f"/v2/{ctx.name}/tags/list")
    return web.json_response({"name": ctx.name, "tags": page}, headers=link)


def _paginate(request: web.Request, items: list[str], path: str) -> tuple[list[str], dict[str, str]]:
    """Items after ``last``, at most ``n`` of them, and a Link header to the next page if any."""
    last = request.query.get("last")
    rest = [i for i in items if last is None or i > last]
    raw = request.query.get("n")
    if raw is None:
        return rest, {}
    if not raw.isdigit():
        raise RegistryError("PAGINATION_NUMBER_INVALID", detail={"n": raw})
    n = int(raw)
    page = rest[:n]
    if len(rest) <= n or not page:
        return page, {}
    return page, {"Link": f'<{path}?{urlencode({"last": page[-1], "n": n})}>; rel="next"'}


#: (path pattern, {method: handler}); the first match wins
ROUTES: list[tuple[re.Pattern[str], dict[str, Handler]]] = [
    (re.compile(r""), {"GET": base}),
    (re.compile(r"_catalog"), {"GET": catalog}),
    (re.compile(r"(?P<name>.+)/tags/list"), {"GET": tags_list}),
    (re.compile(r"(?P<name>.+)/manifests/(?P<arg>[^/]+)"), {
        "GET": manifest_routes.get_manifest, "HEAD": manifest_routes.get_manifest,
        "PUT": manifest_routes.put_manifest, "DELETE": manifest_routes.delete_manifest}),
    (re.compile(r"(?P<name>.+)/blobs/uploads/?"), {"POST": blobs.start_upload}),
    (re.compile(r"(?P<name>.+)/blobs/uploads/(?P<arg>[^/]+)"), {
        "GET": blobs.upload_status, "PATCH": blobs.patch_upload, "PUT": blobs.put_upload,
        "DELETE": blobs.cancel_upload}),
    (re.compile(r"(?P<name>.+)/blobs/(?P<arg>[^/]+)"), {
        "GET": blobs.get_blob, "HEAD": blobs.get_blob, "DELETE": blobs.delete_blob}),
    (re.compile(r"(?P<name>.+)/referrers/(?P<arg>[^/]+)"), {"GET": manifest_routes.referrers}),
]


def required_scope(name: str, path: str, method: str) -> Scope | None:
    """The token scope a request needs: pull to read, push to write, delete to delete."""
    if not name:
        return Scope("registry", "catalog", frozenset({"*"})) if path == "_catalog" else None
    actions = {"GET": {"pull"}, "HEAD": {"pull"}, "DELETE": {"delete"}}.get(method, {"pull", "push"})
    return Scope("repository", name, frozenset(actions))


async def dispatch(request: web.Request) -> web.StreamResponse:
    path = request.match_info.get("path", "")
    for pattern, methods in ROUTES:
        match = pattern.fullmatch(path)
        if match:
            break
    else:
        raise RegistryError("NAME_UNKNOWN", "no such route", status=404)
    handler = methods.get(request.method)
    if handler is None:
        raise RegistryError("UNSUPPORTED", headers={"Allow": ", ".join(methods)})
    groups = match.groupdict()
    name = check_name(groups["name"]) if groups.get("name") else ""
    auth = request.app[AUTH]
    grant = await auth.check(request.headers.get("Authorization"),
                             required_scope(name, path, request.method))
    ctx = Ctx(request, request.app[STORAGE], name, groups.get("arg") or "", grant, request.app[STATE])
    return await handler(ctx)


async def token(request: web.Request) -> web.StreamResponse:
    """Docker Hub's token endpoint: ``GET ?service=&scope=repository:name:pull,push`` with Basic auth."""
    answer = await request.app[AUTH].issue(basic_credentials(request.headers.get("Authorization")),
                                           request.query.get("service"), request.query.getall("scope", []))
    return web.json_response(answer)


async def oauth_token(request: web.Request) -> web.StreamResponse:
    """The OAuth2 form of the endpoint (containerd and buildkit try it first): the password grant.

    Refresh tokens are not issued, so any other grant is refused and the
    client falls back to the GET form.
    """
    form = await request.post()
    if form.get("grant_type") != "password" or "username" not in form:
        raise RegistryError("UNSUPPORTED", "only the password grant is supported", status=400)
    answer = await request.app[AUTH].issue((str(form["username"]), str(form.get("password", ""))),
                                           str(form.get("service", "")) or None,
                                           str(form.get("scope", "")).split())
    return web.json_response({"access_token": answer["access_token"], "expires_in": answer["expires_in"],
                              "issued_at": answer["issued_at"]})


@web.middleware
async def errors(request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
                 ) -> web.StreamResponse:
    try:
        return await handler(request)
    except RegistryError as err:
        return web.Response(status=err.status, body=json.dumps(err.body()).encode(),
                            content_type="application/json", headers=err.headers)


async def _api_version(request: web.Request, response: web.StreamResponse) -> None:
    response.headers["Docker-Distribution-API-Version"] = "registry/2.0"


def make_app(config: ServerConfig) -> web.Application:
    app = web.Application(middlewares=[errors])
    app[STORAGE] = Storage(config.root)
    app[STATE] = {"locks": {}, "hashes": {}}
    htpasswd = Htpasswd(config.htpasswd) if config.htpasswd else None
    tokens = None
    if config.token_realm:
        tokens = Tokens(os.path.join(app[STORAGE].root, "auth", "token.key"), config.token_service)
        path = urlparse(config.token_realm).path or "/token"
        app.router.add_get(path, token)
        app.router.add_post(path, oauth_token)
    app[AUTH] = Authenticator(htpasswd, tokens, config.token_realm)
    app.router.add_route("*", "/v2/{path:.*}", dispatch)
    app.router.add_route("*", "/v2", dispatch)
    app.on_response_prepare.append(_api_version)
    return app
