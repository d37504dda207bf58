"""Credentials and the WWW-Authenticate challenge flow.

A client learns how a registry wants to be asked from the challenge its
``/v2/`` (or any request) answers with: ``Basic`` means sending the
credentials with every request; ``Bearer realm=...,service=...`` means
trading them (or nothing: anonymous) at the realm for a token granting the
scopes an operation needs (``repository:team/app:pull,push``). Tokens are
cached until shortly before they expire, per realm, service, scopes and user.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import time
from dataclasses import dataclass, field
from typing import Any

_PARAM_RE = re.compile(r'\s*([A-Za-z0-9_-]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^,\s]*))\s*,?')
DEFAULT_TOKEN_TTL = 60
_EXPIRY_MARGIN = 5


@dataclass(frozen=True)
class AuthConfig:
    """Docker's ``types.AuthConfig``, as sent in ``X-Registry-Auth`` and to ``/auth``."""

    username: str = ""
    password: str = ""
    identitytoken: str = ""
    registrytoken: str = ""
    serveraddress: str = ""

    @classmethod
    def from_json(cls, doc: Any) -> "AuthConfig":
        if not isinstance(doc, dict):
            return cls()
        doc = {k.lower(): v for k, v in doc.items() if isinstance(v, str)}
        username, password = doc.get("username", ""), doc.get("password", "")
        if not username and doc.get("auth"):
            try:
                username, _, password = base64.b64decode(doc["auth"]).decode().partition(":")
            except (binascii.Error, UnicodeDecodeError):
                pass
        return cls(username, password, doc.get("identitytoken", ""), doc.get("registrytoken", ""),
                   doc.get("serveraddress", ""))

    @classmethod
    def from_header(cls, value: str | None) -> "AuthConfig":
        """The base64url JSON of ``X-Registry-Auth``; garbage counts as no credentials (as dockerd)."""
        if not value:
            return cls()
        try:
            raw = base64.urlsafe_b64decode(value.strip() + "=" * (-len(value.strip()) % 4))
            return cls.from_json(json.loads(raw))
        except (binascii.Error, ValueError):
            return cls()

    @property
    def basic(self) -> str | None:
        """The ``Authorization: Basic`` value, when there is a user."""
        if not self.username:
            return None
        return "Basic " + base64.b64encode(f"{self.username}:{self.password}".encode()).decode()


@dataclass(frozen=True)
class Challenge:
    scheme: str  # lower case: "basic" or "bearer"
    params: dict[str, str] = field(default_factory=dict)

    @property
    def scopes(self) -> list[str]:
        return [s for s in self.params.get("scope", "").split(" ") if s]


def parse_challenges(headers: list[str]) -> list[Challenge]:
    """``WWW-Authenticate`` values → challenges (quoted values may hold commas)."""
    out = []
    for header in headers:
        scheme, _, rest = header.strip().partition(" ")
        params = {m.group(1).lower(): (m.group(2) if m.group(2) is not None else m.group(3) or "")
                  .replace('\\"', '"') for m in _PARAM_RE.finditer(rest)}
        if scheme:
            out.append(Challenge(scheme.lower(), params))
    return out


def scope(repository: str, actions: str) -> str:
    return f"repository:{repository}:{actions}"


class TokenCache:
    """Bearer tokens by (realm, service, scopes, user), dropped before they expire."""

    def __init__(self) -> None:
        self._tokens: dict[tuple[str, str, frozenset[str], str], tuple[str, float]] = {}

    @staticmethod
    def key(challenge: Challenge, scopes: list[str], user: str) -> tuple[str, str, frozenset[str], str]:
        return (challenge.params.get("realm", ""), challenge.params.get("service", ""), frozenset(scopes), user)

    def get(self, key: tuple[str, str, frozenset[str], str]) -> str | None:
        entry = self._tokens.get(key)
        if entry is None or entry[1] <= time.monotonic():
            self._tokens.pop(key, None)
            return None
        return entry[0]

    def put(self, key: tuple[str, str, frozenset[str], str], answer: dict[str, Any]) -> str:
        """Remember the token endpoint's answer; returns its token."""
        token = answer.get("token") or answer.get("access_token")
        if not isinstance(token, str) or not token:
            raise ValueError("the token endpoint answered without a token")
        ttl = answer.get("expires_in")
        ttl = ttl if isinstance(ttl, int) and ttl > 0 else DEFAULT_TOKEN_TTL
        self._tokens[key] = (token, time.monotonic() + max(ttl - _EXPIRY_MARGIN, 1))
        return token

    def drop(self, key: tuple[str, str, frozenset[str], str]) -> None:
        self._tokens.pop(key, None)
