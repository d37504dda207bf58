"""``wharf images`` / ``wharf image ls``: list images in docker's columns, or through ``--format``."""

from __future__ import annotations

import sys
import time
from typing import Any

from wharf.cli.common import add_filter, add_format, filters_param, short_id
from wharf.cli.format import render_rows
from wharf.cli.units import ago, human_size
from wharf.client.http import Client

USAGE = "[OPTIONS] [REPOSITORY[:TAG]]"
ALIASES = "wharf image ls, wharf image list, wharf images"
HEADERS = {"ID": "IMAGE ID", "Repository": "REPOSITORY", "Tag": "TAG", "Digest": "DIGEST",
           "CreatedSince": "CREATED", "CreatedAt": "CREATED AT", "Size": "SIZE",
           "Containers": "CONTAINERS", "SharedSize": "SHARED SIZE", "UniqueSize": "UNIQUE SIZE",
           "VirtualSize": "VIRTUAL SIZE"}
DEFAULT = "{{.Repository}}\t{{.Tag}}\t{{.ID}}\t{{.CreatedSince}}\t{{.Size}}"
DEFAULT_DIGESTS = "{{.Repository}}\t{{.Tag}}\t{{.Digest}}\t{{.ID}}\t{{.CreatedSince}}\t{{.Size}}"
NONE = "<none>"


def add_arguments(parser: Any) -> None:
    parser.add_argument("-a", "--all", action="store_true",
                        help="Show all images (default hides intermediate images)")
    parser.add_argument("--digests", action="store_true", help="Show digests")
    add_filter(parser)
    add_format(parser)
    parser.add_argument("--no-trunc", action="store_true", help="Don't truncate output")
    parser.add_argument("-q", "--quiet", action="store_true", help="Only show image IDs")
    parser.add_argument("repository", nargs="?", metavar="REPOSITORY[:TAG]")


def run(args: Any, client: Client) -> int:
    filters = filters_param(args.filter) or {}
    if args.repository:
        filters.setdefault("reference", []).append(args.repository)
    images = client.get("/images/json", all=args.all or None, digests=args.digests or None,
                        filters=filters or None)
    now = time.time()
    if args.quiet and not args.format:
        ids = dict.fromkeys(image_id(i, args.no_trunc) for i in images)
        sys.stdout.write("".join(f"{i}\n" for i in ids))
        return 0
    rows = [row for image in images for row in image_rows(image, args.no_trunc, now)]
    sys.stdout.write(render_rows(args.format, rows, HEADERS, DEFAULT_DIGESTS if args.digests else DEFAULT))
    return 0


def image_id(image: dict[str, Any], no_trunc: bool) -> str:
    """``--no-trunc`` shows the whole ``sha256:...`` ID, as docker does."""
    return image["Id"] if no_trunc else short_id(image["Id"])


def image_rows(image: dict[str, Any], no_trunc: bool, now: float) -> list[dict[str, Any]]:
    """One row per repository:tag (docker's image formatter), ``<none>`` for untagged images."""
    repos: dict[str, tuple[list[str], list[str]]] = {}
    for ref in image.get("RepoTags") or []:
        repo, _, tag = ref.rpartition(":")
        if repo != NONE:
            repos.setdefault(repo, ([], []))[0].append(tag)
    for ref in image.get("RepoDigests") or []:
        repo, _, digest = ref.partition("@")
        if repo != NONE:
            repos.setdefault(repo, ([], []))[1].append(digest)
    pairs = []
    for repo, (tags, digests) in repos.items():
        digest = digests[0] if len(digests) == 1 else NONE
        pairs += [(repo, tag, digest) for tag in tags] or [(repo, NONE, d) for d in digests]
    created = image.get("Created", 0)
    base = {"ID": image_id(image, no_trunc), "CreatedSince": ago(created, now),
            "CreatedAt": time.strftime("%Y-%m-%d %H:%M:%S %z %Z", time.localtime(created)),
            "Size": human_size(image.get("Size", 0)), "VirtualSize": human_size(image.get("VirtualSize", 0)),
            "Containers": "N/A" if image.get("Containers", -1) < 0 else str(image["Containers"]),
            "SharedSize": "N/A" if image.get("SharedSize", -1) < 0 else human_size(image["SharedSize"], 4),
            "UniqueSize": "N/A" if image.get("SharedSize", -1) < 0 else
            human_size(image.get("Size", 0) - image["SharedSize"], 4)}
    return [{**base, "Repository": repo, "Tag": tag, "Digest": digest}
            for repo, tag, digest in pairs or [(NONE, NONE, NONE)]]
