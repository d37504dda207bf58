"""Namespaced sysctls (``--sysctl``), written by the container's child.

The child has already entered its own network/IPC/UTS namespaces, and
/proc/sys resolves those per writing process, so the host's /proc (before
pivot_root, while /proc/sys is still writable) reaches the container's
copies and never the host's. The engine allows only namespaced names.
"""

from __future__ import annotations

import os


def apply(sysctls: dict[str, str]) -> None:
    for name, value in sysctls.items():
        path = os.path.join("/proc/sys", name.replace(".", "/"))
        try:
            with open(path, "w") as f:
                f.write(value)
        except OSError as e:
            raise OSError(e.errno, f"write sysctl {name}: {os.strerror(e.errno or 0)}") from None
