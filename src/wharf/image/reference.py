"""Image references in the distribution grammar, normalised the way Docker does.

Every name the store keeps is fully qualified (``docker.io/library/busybox``)
so that ``busybox``, ``library/busybox`` and ``docker.io/library/busybox:latest``
are one image; users see the *familiar* form (``busybox:latest``) back.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from wharf.errors import InvalidParameter

DEFAULT_DOMAIN = "docker.io"
LEGACY_DEFAULT_DOMAIN = "index.docker.io"
OFFICIAL_REPO_PREFIX = "library/"
DEFAULT_TAG = "latest"
NAME_TOTAL_LENGTH_MAX = 255

_ALNUM = r"[a-z0-9]+"
_SEPARATOR = r"(?:[._]|__|[-]*)"
_PATH_COMPONENT = rf"{_ALNUM}(?:{_SEPARATOR}{_ALNUM})*"
_DOMAIN_COMPONENT = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
_DOMAIN = rf"{_DOMAIN_COMPONENT}(?:\.{_DOMAIN_COMPONENT})*(?::[0-9]+)?"
_TAG = r"[\w][\w.-]{0,127}"
_DIGEST = r"[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}"
_NAME = rf"(?:{_DOMAIN}/)?{_PATH_COMPONENT}(?:/{_PATH_COMPONENT})*"

_REFERENCE_RE = re.compile(rf"^({_NAME})(?::({_TAG}))?(?:@({_DIGEST}))?$")
_TAG_RE = re.compile(rf"^{_TAG}$")
_HEX64_RE = re.compile(r"^[a-f0-9]{64}$")
_SHA256_RE = re.compile(r"^sha256:[a-f0-9]{64}$")


@dataclass(frozen=True)
class Reference:
    """A normalised reference: ``domain/path[:tag][@digest]``."""

    domain: str
    path: str
    tag: str | None = None
    digest: str | None = None

    @property
    def name(self) -> str:
        """Fully qualified repository name, the key of the tag store."""
        return f"{self.domain}/{self.path}"

    @property
    def familiar_name(self) -> str:
        """The name as users type it: no ``docker.io/``, no ``library/``."""
        if self.domain != DEFAULT_DOMAIN:
            return self.name
        path = self.path
        if path.startswith(OFFICIAL_REPO_PREFIX) and "/" not in path[len(OFFICIAL_REPO_PREFIX):]:
            path = path[len(OFFICIAL_REPO_PREFIX):]
        return path

    def __str__(self) -> str:
        return self.name + self._suffix()

    def familiar(self) -> str:
        """``busybox:latest``, ``localhost:5000/x@sha256:...``: what Docker prints."""
        return self.familiar_name + self._suffix()

    def _suffix(self) -> str:
        return (f":{self.tag}" if self.tag else "") + (f"@{self.digest}" if self.digest else "")

    def with_tag(self, tag: str) -> "Reference":
        validate_tag(tag)
        return Reference(self.domain, self.path, tag, None)


def parse(text: str) -> Reference:
    """Parse and normalise without adding a default tag (``busybox`` stays tagless)."""
    match = _REFERENCE_RE.match(text) if text else None
    if match is None:
        if text and text.lower() != text and _REFERENCE_RE.match(text.lower()):
            raise InvalidParameter("invalid reference format: repository name must be lowercase")
        raise InvalidParameter("invalid reference format")
    name, tag, digest = match.groups()
    if len(name) > NAME_TOTAL_LENGTH_MAX:
        raise InvalidParameter("invalid reference format: repository name must not be more than 255 characters")
    if _HEX64_RE.match(name):
        raise InvalidParameter(f"invalid repository name ({name}), cannot specify 64-byte hexadecimal strings")
    domain, path = _split_domain(name)
    if path.lower() != path:
        raise InvalidParameter("invalid reference format: repository name must be lowercase")
    return Reference(domain, path, tag, digest)


def parse_tagged(text: str) -> Reference:
    """Parse, and add ``:latest`` when neither a tag nor a digest is given."""
    ref = parse(text)
    if ref.tag is None and ref.digest is None:
        ref = Reference(ref.domain, ref.path, DEFAULT_TAG, None)
    return ref


def validate_tag(tag: str) -> None:
    if not _TAG_RE.match(tag):
        raise InvalidParameter(f'invalid tag format: "{tag}"' if tag else "invalid reference format")


def is_image_id(text: str) -> bool:
    """A full ``sha256:<hex>`` or a bare 64-hex image ID."""
    return bool(_SHA256_RE.match(text) or _HEX64_RE.match(text))


def _split_domain(name: str) -> tuple[str, str]:
    first, sep, rest = name.partition("/")
    if sep and ("." in first or ":" in first or first == "localhost") or (sep and first.lower() != first):
        domain, path = first, rest
    else:
        domain, path = DEFAULT_DOMAIN, name
    if domain == LEGACY_DEFAULT_DOMAIN:
        domain = DEFAULT_DOMAIN
    if domain == DEFAULT_DOMAIN and "/" not in path:
        path = OFFICIAL_REPO_PREFIX + path
    return domain, path
