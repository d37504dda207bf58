"""A small real filesystem for disk-full tests: ext4 in a file, loop-mounted.

ext4 rather than tmpfs because ext4 is where a full disk bites: a ``mkdir``
needs a data block there, a rename within a directory does not. ``-m 0``
leaves no blocks reserved for root (wharfd and the containers run as root
and would use them up too, only later). Made with ``mount -o loop``, so the
loop device is released by the unmount (autoclear).
"""

from __future__ import annotations

import errno
import os
import subprocess
from pathlib import Path


class SmallDisk:
    def __init__(self, image: Path, mountpoint: Path, size_mb: int) -> None:
        self.image = image
        self.mountpoint = mountpoint
        self.size_mb = size_mb

    @property
    def mounted(self) -> bool:
        return os.path.ismount(self.mountpoint)

    def mount(self) -> None:
        """Make the filesystem (first time only) and mount it."""
        if self.mounted:
            return
        self.mountpoint.mkdir(parents=True, exist_ok=True)
        if not self.image.exists():
            with open(self.image, "wb") as f:
                f.truncate(self.size_mb << 20)
            subprocess.run(["mkfs.ext4", "-q", "-F", "-m", "0", str(self.image)], check=True,
                           capture_output=True)
        subprocess.run(["mount", "-o", "loop", str(self.image), str(self.mountpoint)], check=True,
                       capture_output=True)

    def unmount(self) -> None:
        """Unmount (lazily if busy) and release the loop device."""
        if self.mounted:
            if subprocess.run(["umount", str(self.mountpoint)], capture_output=True).returncode:
                subprocess.run(["umount", "-l", str(self.mountpoint)], capture_output=True)
        for device in self.loop_devices():
            subprocess.run(["losetup", "-d", device], capture_output=True)

    def loop_devices(self) -> list[str]:
        """Loop devices still backed by the image (none once unmounted)."""
        out = subprocess.run(["losetup", "-j", str(self.image)], capture_output=True, text=True)
        return [line.split(":")[0] for line in out.stdout.splitlines() if line]

    def free(self) -> int:
        """Bytes free, as ``df`` counts them."""
        st = os.statvfs(self.mountpoint)
        return st.f_bavail * st.f_frsize

    def fill(self, name: str = "filler") -> Path:
        """Write a file until the disk refuses; returns it (delete it to free the space)."""
        path = self.mountpoint / name
        chunk = b"\0" * (1 << 20)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        try:
            while True:
                try:
                    os.write(fd, chunk)
                except OSError as e:
                    if e.errno != errno.ENOSPC:
                        raise
                    if len(chunk) == 1:
                        break
                    chunk = chunk[:len(chunk) // 16] or b"\0"
        finally:
            os.close(fd)
        return path
