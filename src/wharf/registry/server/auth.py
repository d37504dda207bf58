"""Authentication: htpasswd (bcrypt) Basic, and Bearer tokens from our own token endpoint.

Three modes, as distribution has them:

* open: no --htpasswd and no --token-realm; everyone may do everything.
* Basic: --htpasswd; each request carries ``Authorization: Basic`` checked
  against the file, else 401 with ``WWW-Authenticate: Basic realm=...``.
* Bearer: --token-realm; a request needs a token granting its scope, else
  401 with ``WWW-Authenticate: Bearer realm=...,service=...,scope=...`` (and
  ``error="insufficient_scope"`` when a token was sent but falls short). The
  token endpoint at the realm's path checks Basic credentials against
  --htpasswd (everyone, when there is none) and signs a JWT (HS256) whose
  ``access`` claim lists the granted scopes: Docker Hub's flow.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import hmac
import json
import os
import secrets
import time
from dataclasses import dataclass, field
from typing import Any

import bcrypt

from wharf.registry.server.errors import RegistryError

BASIC_REALM = "wharf-registry"
TOKEN_TTL = 300


@dataclass(frozen=True)
class Scope:
    """``repository:library/busybox:pull,push`` or ``registry:catalog:*``."""

    type: str
    name: str
    actions: frozenset[str]

    @classmethod
    def parse(cls, text: str) -> "Scope | None":
        kind, _, rest = text.partition(":")
        name, _, actions = rest.rpartition(":")
        if not kind or not name or not actions:
            return None
        return cls(kind, name, frozenset(a for a in actions.split(",") if a))

    def __str__(self) -> str:
        return f"{self.type}:{self.name}:{','.join(sorted(self.actions))}"


@dataclass
class Grant:
    """What an authenticated request may do: everything, or the scopes of its token."""

    everything: bool = False
    access: list[Scope] = field(default_factory=list)

    def allows(self, scope: Scope) -> bool:
        if self.everything:
            return True
        held = set().union(*(s.actions for s in self.access
                             if s.type == scope.type and s.name == scope.name))
        return "*" in held or scope.actions <= held


class Htpasswd:
    """An htpasswd file of bcrypt hashes (the only kind distribution accepts)."""

    def __init__(self, path: str) -> None:
        self.users: dict[str, bytes] = {}
        with open(path) as f:
            for line in f:
                user, sep, hashed = line.strip().partition(":")
                if sep and hashed.startswith("$2"):
                    self.users[user] = hashed.encode()
        self._verified: set[tuple[str, bytes]] = set()

    async def verify(self, user: str, password: str) -> bool:
        """bcrypt is slow by design: check off the loop, and remember successes."""
        hashed = self.users.get(user)
        if hashed is None:
            return False
        key = (user, hashlib.sha256(password.encode()).digest())
        if key in self._verified:
            return True
        ok = await asyncio.to_thread(_checkpw, password.encode(), hashed)
        if ok:
            self._verified.add(key)
        return ok


def _checkpw(password: bytes, hashed: bytes) -> bool:
    try:
        return bcrypt.checkpw(password, hashed)
    except ValueError:      # a corrupt hash in the file denies, it does not crash
        return False


def basic_credentials(header: str | None) -> tuple[str, str] | None:
    """(user, password) from an ``Authorization: Basic`` header, None if absent or malformed."""
    scheme, _, value = (header or "").partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        user, sep, password = base64.b64decode(value.strip(), validate=True).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError):
        return None
    return (user, password) if sep else None


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class Tokens:
    """HS256 JWTs signed with a key kept in --root, so they outlive a restart."""

    def __init__(self, key_path: str, service: str) -> None:
        self.service = service
        if not os.path.exists(key_path):
            os.makedirs(os.path.dirname(key_path), exist_ok=True)
            fd = os.open(key_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as f:
                f.write(secrets.token_bytes(32))
        with open(key_path, "rb") as f:
            self._key = f.read()

    def issue(self, subject: str, access: list[Scope]) -> str:
        now = int(time.time())
        claims = {"iss": BASIC_REALM, "sub": subject, "aud": self.service, "iat": now, "nbf": now - 1,
                  "exp": now + TOKEN_TTL, "jti": secrets.token_hex(8),
                  "access": [{"type": s.type, "name": s.name, "actions": sorted(s.actions)} for s in access]}
        signing = f"{_b64(json.dumps({'alg': 'HS256', 'typ': 'JWT'}).encode())}.{_b64(json.dumps(claims).encode())}"
        return f"{signing}.{_b64(self._sign(signing))}"

    def verify(self, token: str) -> Grant | None:
        """The grant a valid, unexpired token for our service carries; None otherwise."""
        try:
            header, payload, signature = token.split(".")
            if not hmac.compare_digest(_unb64(signature), self._sign(f"{header}.{payload}")):
                return None
            claims = json.loads(_unb64(payload))
            if claims.get("aud") != self.service or not claims["nbf"] <= time.time() < claims["exp"]:
                return None
            return Grant(access=[Scope(a["type"], a["name"], frozenset(a["actions"])) for a in claims["access"]])
        except (ValueError, KeyError, TypeError, AttributeError, binascii.Error):
            return None

    def _sign(self, text: str) -> bytes:
        return hmac.new(self._key, text.encode(), hashlib.sha256).digest()


class Authenticator:
    """Decides, per request, whether it may have the scope it needs."""

    def __init__(self, htpasswd: Htpasswd | None = None, tokens: Tokens | None = None,
                 realm: str | None = None) -> None:
        self.htpasswd = htpasswd
        self.tokens = tokens
        self.realm = realm

    async def check(self, authorization: str | None, scope: Scope | None) -> Grant:
        """The caller's grant; RegistryError 401 (with its challenge) when it is not enough."""
        if self.tokens is not None:
            return self._bearer(authorization, scope)
        if self.htpasswd is None:
            return Grant(everything=True)
        credentials = basic_credentials(authorization)
        if credentials and await self.htpasswd.verify(*credentials):
            return Grant(everything=True)
        raise RegistryError("UNAUTHORIZED", headers={"WWW-Authenticate": f'Basic realm="{BASIC_REALM}"'},
                            detail=[_access_detail(scope)] if scope else None)

    def _bearer(self, authorization: str | None, scope: Scope | None) -> Grant:
        assert self.tokens is not None
        scheme, _, token = (authorization or "").partition(" ")
        grant = self.tokens.verify(token.strip()) if scheme.lower() == "bearer" else None
        if grant is not None and (scope is None or grant.allows(scope)):
            return grant
        challenge = f'Bearer realm="{self.realm}",service="{self.tokens.service}"'
        if scope is not None:
            challenge += f',scope="{scope}"'
        if grant is not None:
            challenge += ',error="insufficient_scope"'
        elif token:
            challenge += ',error="invalid_token"'
        raise RegistryError("UNAUTHORIZED", headers={"WWW-Authenticate": challenge},
                            detail=[_access_detail(scope)] if scope else None)

    async def issue(self, credentials: tuple[str, str] | None, service: str | None,
                    scopes: list[str]) -> dict[str, Any]:
        """The token endpoint's answer: every requested scope to a known user, none to anonymous."""
        assert self.tokens is not None
        if service and service != self.tokens.service:
            raise RegistryError("DENIED", f"unknown service {service}", status=400)
        subject = ""
        if credentials is not None:
            if self.htpasswd is None or not await self.htpasswd.verify(*credentials):
                raise RegistryError("UNAUTHORIZED", "incorrect username or password",
                                    headers={"WWW-Authenticate": f'Basic realm="{BASIC_REALM}"'})
            subject = credentials[0]
        trusted = bool(subject) or self.htpasswd is None
        access = [s for s in map(Scope.parse, scopes) if s is not None] if trusted else []
        token = self.tokens.issue(subject, access)
        return {"token": token, "access_token": token, "expires_in": TOKEN_TTL,
                "issued_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}


def _access_detail(scope: Scope) -> dict[str, str]:
    return {"Type": scope.type, "Name": scope.name, "Action": ",".join(sorted(scope.actions))}
