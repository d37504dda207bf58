"""One registry as one operation sees it: endpoint, authorization, retries, errors.

``ping`` (``GET /v2/``) picks the scheme (HTTPS, or HTTP where the policy
allows it) and learns the registry's challenge; every later request carries
the authorization that challenge asks for, for the scopes the operation
needs. A 401 naming a scope we did not ask for (a cross-repository mount,
an expired token) is answered once with a fresh token. Connection failures
and 5xx answers are retried with backoff; what still fails becomes an error
worded as dockerd words it (``Get "http://h/v2/": dial tcp h: connect:
connection refused``, ``manifest unknown: manifest unknown``).
"""

from __future__ import annotations

import asyncio
import json
import ssl
from typing import Any, Callable

import aiohttp

from wharf.errors import Forbidden, InvalidParameter, NotFound, Unauthorized, WharfError
from wharf.registry.client.auth import AuthConfig, Challenge, TokenCache, parse_challenges
from wharf.registry.client.certs import Reach, tls_words

#: pauses between attempts: four tries over about two seconds
RETRY_DELAYS = (0.2, 0.6, 1.2)
Body = bytes | Callable[[], Any] | None
#: what a status means when the answer has no body (a HEAD), in distribution's words
_BODILESS = {401: "unauthorized: authentication required",
             403: "denied: requested access to the resource is denied"}


class RegistryUnavailable(WharfError):
    """The registry could not be reached, or kept failing, after every retry."""


def open_http() -> aiohttp.ClientSession:
    """A client session for one operation: no transparent decompression (blobs are hashed as sent)."""
    timeout = aiohttp.ClientTimeout(total=None, sock_connect=15, sock_read=300)
    return aiohttp.ClientSession(timeout=timeout, auto_decompress=False, trust_env=False)


def describe(code: str) -> str:
    """``MANIFEST_UNKNOWN`` → ``manifest unknown``, as distribution's errcode prints codes."""
    return code.lower().replace("_", " ")


def registry_error(status: int, body: bytes, reason: str = "") -> WharfError:
    """A registry's error answer as a wharf error carrying a matching status."""
    text = ""
    try:
        doc = json.loads(body)
        errors = doc.get("errors") if isinstance(doc, dict) else None
        if errors and isinstance(errors[0], dict):
            first = errors[0]
            text = f"{describe(str(first.get('code', '')))}: {first.get('message', '')}".strip(": ")
        elif isinstance(doc, dict) and doc.get("details"):
            text = f"{describe(str(doc.get('error', 'error')))}: {doc['details']}"
    except (ValueError, AttributeError):
        pass
    text = text or _BODILESS.get(status) or f"received unexpected HTTP status: {status} {reason}".strip()
    kind = {400: InvalidParameter, 401: Unauthorized, 403: Forbidden, 404: NotFound}.get(status, WharfError)
    return kind(text)


def _network_reason(url: str, host: str, error: BaseException) -> str:
    cause = getattr(error, "certificate_error", None) or getattr(error, "os_error", None) or error
    if isinstance(cause, ConnectionRefusedError):
        return f"dial tcp {host}: connect: connection refused"
    if isinstance(cause, ConnectionResetError) or isinstance(error, aiohttp.ServerDisconnectedError):
        return f"read tcp {host}: connection reset by peer"
    if isinstance(error, asyncio.TimeoutError):
        return f"dial tcp {host}: i/o timeout"
    if isinstance(cause, ssl.SSLError):
        return tls_words(cause, host)
    if isinstance(cause, aiohttp.ClientSSLError):
        return f"tls: {cause}"
    return str(cause) or type(cause).__name__


class Session:
    def __init__(self, http: aiohttp.ClientSession, host: str, auth: AuthConfig, reach: Reach,
                 tokens: TokenCache, schemes: dict[str, str]) -> None:
        self.http = http
        self.host = host
        self.auth = auth
        self._reach = reach  # schemes and TLS, as the operation began (certs.d read then)
        self._tokens = tokens
        self._schemes = schemes  # host -> the scheme that worked last time (shared per daemon)
        self.base = ""
        self.challenge: Challenge | None = None

    # -- sending with retries ----------------------------------------------
    async def _send(self, method: str, url: str, headers: dict[str, str], body: Body,
                    params: Any = None, retry: bool = True) -> aiohttp.ClientResponse:
        """One request, retried on connection failures and 5xx (unless ``retry`` is off: a
        streamed body cannot be sent twice); the last 5xx is returned."""
        error: BaseException | None = None
        for attempt, delay in enumerate((*RETRY_DELAYS, None) if retry else (None,)):
            try:
                resp = await self.http.request(
                    method, url, headers=headers, params=params, allow_redirects=True,
                    data=body() if callable(body) else body,
                    ssl=self._reach.ssl)  # the token realm and redirects too, as dockerd's transport
            except (aiohttp.ClientError, asyncio.TimeoutError, OSError) as e:
                error = e
            else:
                if resp.status < 500 or delay is None:
                    return resp
                resp.release()
                error = None
            if delay is None or isinstance(error, (aiohttp.ClientSSLError, ssl.SSLError)):
                break
            await asyncio.sleep(delay)
        assert error is not None
        raise RegistryUnavailable(f'{method.capitalize()} "{url}": {_network_reason(url, self.host, error)}')

    # -- endpoint and challenge --------------------------------------------
    async def ping(self) -> None:
        """Find the scheme that answers ``/v2/`` and the challenge it sends, once."""
        if self.base:
            return
        known = self._schemes.get(self.host)
        schemes = (known,) if known in self._reach.schemes else self._reach.schemes
        failure: RegistryUnavailable | None = None
        for scheme in schemes:
            url = f"{scheme}://{self.host}/v2/"
            try:
                resp = await self._send("GET", url, {}, None)
            except RegistryUnavailable as e:
                failure = e
                continue
            async with resp:
                if resp.status not in (200, 401):
                    raise registry_error(resp.status, await resp.read(), resp.reason or "")
                self.base = f"{scheme}://{self.host}"
                self._schemes[self.host] = scheme
                found = parse_challenges(resp.headers.getall("WWW-Authenticate", []))
                self.challenge = found[0] if resp.status == 401 and found else None
                return
        assert failure is not None
        raise failure

    async def _authorization(self, scopes: list[str]) -> dict[str, str]:
        challenge = self.challenge
        if challenge is None:
            return {}
        if challenge.scheme == "basic":
            return {"Authorization": self.auth.basic} if self.auth.basic else {}
        if challenge.scheme == "bearer":
            return {"Authorization": "Bearer " + await self.token(challenge, scopes)}
        return {}

    async def token(self, challenge: Challenge, scopes: list[str]) -> str:
        """A Bearer token for ``scopes`` from the challenge's realm (cached)."""
        if self.auth.registrytoken:
            return self.auth.registrytoken
        key = self._tokens.key(challenge, scopes, self.auth.username)
        cached = self._tokens.get(key)
        if cached is not None:
            return cached
        realm = challenge.params.get("realm", "")
        if not realm.startswith(("http://", "https://")):
            raise WharfError(f"invalid token realm {realm!r} in the registry's challenge")
        query = [(k, v) for k, v in (("service", challenge.params.get("service", "")),) if v]
        query += [("scope", s) for s in scopes]
        if self.auth.identitytoken:
            form = dict(query[:1], grant_type="refresh_token", refresh_token=self.auth.identitytoken,
                        client_id="docker", scope=" ".join(scopes))
            resp = await self._send("POST", realm, {}, lambda: aiohttp.FormData(form))
        else:
            if self.auth.username:
                query.append(("account", self.auth.username))
            headers = {"Authorization": self.auth.basic} if self.auth.basic else {}
            resp = await self._send("GET", realm, headers, None, params=query)
        async with resp:
            body = await resp.read()
            if resp.status in (401, 403):
                err = registry_error(resp.status, body, resp.reason or "")
                raise Unauthorized(err.message if ":" in err.message else
                                   "unauthorized: incorrect username or password")
            if resp.status != 200:
                raise registry_error(resp.status, body, resp.reason or "")
            try:
                return self._tokens.put(key, json.loads(body))
            except (ValueError, AttributeError) as e:
                raise WharfError(f"invalid answer from the token endpoint {realm}: {e}") from None

    # -- requests -----------------------------------------------------------
    async def request(self, method: str, path: str, scopes: list[str], headers: dict[str, str] | None = None,
                      body: Body = None, params: Any = None, retry: bool = True) -> aiohttp.ClientResponse:
        """A request to ``path`` (or an absolute URL the registry gave us), authorized for ``scopes``."""
        await self.ping()
        url = path if path.startswith(("http://", "https://")) else self.base + path
        wanted = list(scopes)
        sent = await self._authorization(wanted)
        resp = await self._send(method, url, {**(headers or {}), **sent}, body, params, retry)
        if resp.status != 401 or not retry:
            return resp
        found = parse_challenges(resp.headers.getall("WWW-Authenticate", []))
        bearer = bool(found) and found[0].scheme == "bearer"
        untried_basic = bool(found) and found[0].scheme == "basic" and bool(self.auth.basic) and not sent
        if not (bearer or untried_basic):
            return resp
        if self.challenge is not None and self.challenge.scheme == "bearer":
            self._tokens.drop(self._tokens.key(self.challenge, wanted, self.auth.username))
        self.challenge = found[0]
        wanted = sorted(set(wanted) | set(found[0].scopes))
        resp.release()
        retry = await self._authorization(wanted)
        return await self._send(method, url, {**(headers or {}), **retry}, body, params)
