"""The grammars a request path is checked against: repository names, tags, digests.

Everything here raises ``RegistryError`` (400) on bad input, so a malformed
path never reaches the filesystem: a name or digest that passes cannot hold
``..``, a slash where none belongs, or anything else that would escape --root.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

from wharf.registry.server.errors import RegistryError

_COMPONENT = r"[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*"
NAME_RE = re.compile(rf"{_COMPONENT}(?:/{_COMPONENT})*")
TAG_RE = re.compile(r"[A-Za-z0-9_][A-Za-z0-9._-]{0,127}")
#: distribution caps whole names at 255 characters
NAME_MAX = 255
#: the algorithms we can verify, with the length of their hex encoding
ALGORITHMS = {"sha256": 64, "sha512": 128}
_DIGEST_RE = re.compile(r"([a-z0-9]+(?:[.+_-][a-z0-9]+)*):([a-zA-Z0-9=_-]+)")


@dataclass(frozen=True)
class Digest:
    algorithm: str
    hex: str

    def __str__(self) -> str:
        return f"{self.algorithm}:{self.hex}"

    def hasher(self) -> "hashlib._Hash":
        return hashlib.new(self.algorithm)


def check_name(name: str) -> str:
    if len(name) > NAME_MAX or not NAME_RE.fullmatch(name):
        raise RegistryError("NAME_INVALID", detail={"name": name})
    return name


def is_tag(reference: str) -> bool:
    return TAG_RE.fullmatch(reference) is not None


def parse_digest(text: str) -> Digest:
    """``sha256:<64 hex>`` (or sha512) -> Digest; anything else is DIGEST_INVALID."""
    match = _DIGEST_RE.fullmatch(text or "")
    if not match:
        raise RegistryError("DIGEST_INVALID", "invalid digest", detail={"digest": text})
    algorithm, encoded = match.groups()
    size = ALGORITHMS.get(algorithm)
    if size is None:
        raise RegistryError("DIGEST_INVALID", f"unsupported digest algorithm {algorithm}",
                            detail={"digest": text})
    if len(encoded) != size or not re.fullmatch(r"[a-f0-9]+", encoded):
        raise RegistryError("DIGEST_INVALID", "invalid digest", detail={"digest": text})
    return Digest(algorithm, encoded)


def digest_of(data: bytes, algorithm: str = "sha256") -> Digest:
    return Digest(algorithm, hashlib.new(algorithm, data).hexdigest())
