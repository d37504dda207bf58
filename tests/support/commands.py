"""What an e2e test asks of a CLI it ran (``Daemon.wharf``/``docker``): that it
succeeded, and what it printed; a failure names the command and all it said."""

from __future__ import annotations

import subprocess


def ok(r: subprocess.CompletedProcess[str]) -> str:
    """The stdout of a command that must have exited 0."""
    assert r.returncode == 0, (f"{' '.join(map(str, r.args))}: exit {r.returncode}\n"
                               f"{r.stdout}{r.stderr}")
    return r.stdout
