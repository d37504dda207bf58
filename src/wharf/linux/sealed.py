"""A sealed in-memory copy of a binary to execute, as runc re-execs itself
(CVE-2019-5736).

A process the engine forks into a container (the exec helper, a fork of the
shim, a fork of the launcher) has the launcher's binary as its /proc/PID/exe.
Were that the host's interpreter, a container that reached it (or ran
``/proc/self/exe``) could hold a handle on a host file and write through it
later. A memfd copy sealed against every change is nobody's file: writes,
truncation and new writable mappings of it fail with EPERM, even for the
host's root.
"""

from __future__ import annotations

import fcntl
import os

F_ADD_SEALS = 1033
F_GET_SEALS = 1034
F_SEAL_SEAL, F_SEAL_SHRINK, F_SEAL_GROW, F_SEAL_WRITE = 1, 2, 4, 8
ALL_SEALS = F_SEAL_SEAL | F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE


def sealed_copy(path: str, name: str) -> int:
    """A close-on-exec memfd holding ``path``'s bytes (symlinks followed), sealed.

    Execute it as ``/proc/self/fd/N`` (the fd passed to the child: ``execve``
    resolves that path before it closes the child's close-on-exec fds).
    """
    fd = os.memfd_create(name, os.MFD_CLOEXEC | os.MFD_ALLOW_SEALING)
    try:
        with open(os.path.realpath(path), "rb") as src:
            size = os.fstat(src.fileno()).st_size
            copied = 0
            while copied < size:
                sent = os.sendfile(fd, src.fileno(), None, size - copied)
                if not sent:
                    raise OSError(f"{path}: short read while copying it")
                copied += sent
        fcntl.fcntl(fd, F_ADD_SEALS, ALL_SEALS)
    except BaseException:
        os.close(fd)
        raise
    return fd
