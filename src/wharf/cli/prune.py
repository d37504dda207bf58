"""The prunes behind ``container/image/volume/network/builder prune`` and
``system prune``: each asks the daemon and returns (bytes reclaimed, what
docker prints for it), so ``system prune`` prints the same sections one
after another (docker/cli's RunPrune functions)."""

from __future__ import annotations

TYPE_CHECKING = False  # typing costs the CLI ~6 ms of import time
if TYPE_CHECKING:
    from typing import Any

    from wharf.client.http import Client


def show(client: Client, prunes: list[Any], all: bool, filters: Any, total: bool = True) -> int:
    """Run ``prunes`` in order, print each one's section (and a blank line) as it
    comes, then the space reclaimed by all (``network prune`` prints none)."""
    import sys

    from wharf.cli.units import human_size
    reclaimed = 0
    for prune in prunes:
        space, output = prune(client, all, filters)
        reclaimed += space
        if output:
            sys.stdout.write(output + "\n")
            sys.stdout.flush()
    if total:
        sys.stdout.write(f"Total reclaimed space: {human_size(reclaimed)}\n")
    return 0


def _listed(title: str, items: list[str]) -> str:
    return f"{title}:\n" + "".join(f"{item}\n" for item in items) if items else ""


def containers(client: Client, all: bool, filters: Any) -> tuple[int, str]:
    report = client.json("POST", "/containers/prune", {"filters": filters})
    return report.get("SpaceReclaimed", 0), _listed("Deleted Containers",
                                                    report.get("ContainersDeleted") or [])


def networks(client: Client, all: bool, filters: Any) -> tuple[int, str]:
    report = client.json("POST", "/networks/prune", {"filters": filters})
    return 0, _listed("Deleted Networks", report.get("NetworksDeleted") or [])


def volumes(client: Client, all: bool, filters: Any) -> tuple[int, str]:
    report = client.json("POST", "/volumes/prune", {"filters": filters})
    return report.get("SpaceReclaimed", 0), _listed("Deleted Volumes",
                                                    report.get("VolumesDeleted") or [])


def images(client: Client, all: bool, filters: Any) -> tuple[int, str]:
    """Dangling images, or with ``all`` every image no container uses."""
    report = client.json("POST", "/images/prune",
                         {"filters": {**(filters or {}), "dangling": ["false" if all else "true"]}})
    lines = [f"{'untagged' if 'Untagged' in r else 'deleted'}: {r.get('Untagged') or r.get('Deleted')}"
             for r in report.get("ImagesDeleted") or []]
    return report.get("SpaceReclaimed", 0), _listed("Deleted Images", lines)


def build_cache(client: Client, all: bool, filters: Any) -> tuple[int, str]:
    report = client.json("POST", "/build/prune", {"all": all or None, "filters": filters})
    return report.get("SpaceReclaimed", 0), _listed("Deleted build cache objects",
                                                    report.get("CachesDeleted") or [])
