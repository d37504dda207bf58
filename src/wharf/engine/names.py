"""Container IDs and names: Docker's formats, rules and random names."""

from __future__ import annotations

import random
import re
import secrets

from wharf.errors import InvalidParameter

NAME_RE = re.compile(r"^/?[a-zA-Z0-9][a-zA-Z0-9_.-]+$")
_ID_RE = re.compile(r"^[0-9a-f]{64}$")

_LEFT = ("admiring", "brave", "clever", "dazzling", "eager", "focused", "gallant", "happy",
         "jolly", "keen", "laughing", "modest", "nifty", "optimistic", "pensive", "quirky",
         "relaxed", "serene", "tender", "upbeat", "vibrant", "wizardly", "xenial", "youthful",
         "zealous")
_RIGHT = ("archimedes", "babbage", "curie", "darwin", "euclid", "feynman", "galileo", "hopper",
          "hypatia", "johnson", "kepler", "lovelace", "meitner", "newton", "noether", "pasteur",
          "ritchie", "shannon", "thompson", "turing", "volhard", "wozniak", "yalow", "zhukovsky")


def new_id() -> str:
    """64 hex digits whose 12-digit short form is never all digits (Docker's rule,
    so a short ID is never mistaken for a number)."""
    while True:
        cid = secrets.token_hex(32)
        if not cid[:12].isdigit():
            return cid


def is_container_id(text: str) -> bool:
    """64 lowercase hex digits: a name the store may hold a container under."""
    return bool(_ID_RE.match(text))


def random_name(taken: set[str]) -> str:
    """``adjective_scientist``, with a digit appended on collision, as Docker does."""
    name = f"{random.choice(_LEFT)}_{random.choice(_RIGHT)}"
    while name in taken:
        name = f"{random.choice(_LEFT)}_{random.choice(_RIGHT)}{random.randint(0, 9)}"
    return name


def validate_name(name: str) -> str:
    """The name without its leading slash, or 400 with Docker's message."""
    if not NAME_RE.match(name):
        raise InvalidParameter(
            f"Invalid container name ({name}), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed")
    return name.lstrip("/")
