"""``wharf image check``: verify the daemon's image store (wharf's own; Docker has none).

Prints each problem the daemon found (a config that is not its image's hash,
a layer whose rebuilt tar is not its diff ID, a broken link, ...) and exits 1,
or a one-line summary and exits 0.
"""

from __future__ import annotations

import sys
from typing import Any

from wharf.client.http import Client

USAGE = ""


def add_arguments(parser: Any) -> None:
    pass


def run(args: Any, client: Client) -> int:
    report = client.json("POST", "/wharf/images/check")
    problems = report.get("Problems") or []
    for problem in problems:
        sys.stdout.write(problem + "\n")
    images, layers = report.get("Images", 0), report.get("Layers", 0)
    if problems:
        sys.stderr.write(f"{len(problems)} problem(s) in {images} images and {layers} layers\n")
        return 1
    sys.stdout.write(f"checked {images} images and {layers} layers: no problems found\n")
    return 0
