"""Where the third-party compatibility suites live (``../shared/compat``: not the
project's code, kept beside the repository so tests and CI run with no internet).

One place for ``scripts/setup.sh`` (which installs docker-py from it) and the
compat tests (which run docker-py's integration suite from it): the directory
``WHARF_COMPAT_DIR`` names, else the repository's ``../shared/compat``, else
``/work/shared/compat``. Run as a script it prints the directory, or exits 1.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
#: what a compat directory must hold to be the one
MARKER = Path("docker-py") / "tests" / "integration"


def candidates() -> list[Path]:
    env = os.environ.get("WHARF_COMPAT_DIR")
    return [Path(p) for p in (env, REPO.parent / "shared" / "compat", "/work/shared/compat") if p]


def compat_dir() -> Path | None:
    """The first candidate that holds docker-py's integration tests, or None."""
    return next((c for c in candidates() if (c / MARKER).is_dir()), None)


if __name__ == "__main__":
    found = compat_dir()
    if found is None:
        sys.exit("no compat suites: looked in " + ", ".join(map(str, candidates())))
    print(found)
