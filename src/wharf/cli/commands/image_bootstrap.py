"""``wharf image bootstrap busybox|debian``: base images with no registry.

``busybox`` makes ``busybox:latest`` from the host's busybox-static: the CLI
builds a minimal rootfs tar (the static busybox, a symlink per applet,
/etc/passwd and /etc/group, the usual empty directories). ``debian`` makes
``debian:<suite>`` (bookworm by default) with debootstrap from Debian's
packages (``debian_rootfs``). Either tar is imported through ``POST
/images/create?fromSrc=-`` with a CMD and a PATH, as ``docker import`` would.
The rootfs is built on the client host, as root there for debian.
"""

from __future__ import annotations

import io
import os
import struct
import subprocess
import tarfile
from typing import Any

from wharf.cli.commands.import_ import print_statuses
from wharf.cli.errors import CommandError
from wharf.client.http import Client, quote

USAGE = "[OPTIONS] DISTRIBUTION"
BUSYBOX_CANDIDATES = ("/bin/busybox", "/usr/bin/busybox")
PATH_ENV = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
#: directory -> mode; /tmp is world-writable and sticky, /root private
DIRS = {"bin": 0o755, "dev": 0o755, "etc": 0o755, "home": 0o755, "proc": 0o555, "root": 0o700,
        "sys": 0o555, "tmp": 0o1777, "usr": 0o755, "usr/bin": 0o755, "usr/sbin": 0o755,
        "sbin": 0o755, "var": 0o755, "var/spool": 0o755, "var/spool/mail": 0o755, "var/www": 0o755}
PASSWD = """root:x:0:0:root:/root:/bin/sh
daemon:x:1:1:daemon:/usr/sbin:/bin/false
bin:x:2:2:bin:/bin:/bin/false
sys:x:3:3:sys:/dev:/bin/false
sync:x:4:100:sync:/bin:/bin/sync
mail:x:8:8:mail:/var/spool/mail:/bin/false
www-data:x:33:33:www-data:/var/www:/bin/false
operator:x:37:37:Operator:/var:/bin/false
nobody:x:65534:65534:nobody:/home:/bin/false
"""
GROUP = """root:x:0:
daemon:x:1:
bin:x:2:
sys:x:3:
adm:x:4:
tty:x:5:
disk:x:6:
mail:x:8:
wheel:x:10:root
www-data:x:33:
operator:x:37:
staff:x:50:
users:x:100:
nogroup:x:65534:
"""


def add_arguments(parser: Any) -> None:
    parser.add_argument("-t", "--tag", default="",
                        help='Name and tag of the image (default "busybox:latest", "debian:SUITE")')
    parser.add_argument("--suite", default="bookworm", help="Debian release to bootstrap")
    parser.add_argument("--mirror", default="", help="Debian mirror (default: the one apt uses here)")
    parser.add_argument("distribution", metavar="DISTRIBUTION")


def run(args: Any, client: Client) -> int:
    if args.distribution == "busybox":
        return import_rootfs(client, args.tag or "busybox:latest", 'CMD ["sh"]',
                             busybox_rootfs(find_static_busybox()))
    if args.distribution == "debian":
        from wharf.cli.commands import debian_rootfs
        from wharf.cli.commands.load import chunks
        with debian_rootfs.rootfs_tar(args.suite, args.mirror) as tar:
            return import_rootfs(client, args.tag or f"debian:{args.suite}", 'CMD ["bash"]', chunks(tar))
    raise CommandError(f'unknown distribution "{args.distribution}": "busybox" and "debian" can be bootstrapped')


def import_rootfs(client: Client, repo: str, cmd: str, rootfs: Any) -> int:
    """``docker import`` of ``rootfs`` (bytes or an iterable of chunks), printing the image ID."""
    changes = "".join(f"&changes={quote(c)}" for c in (cmd, f"ENV {PATH_ENV}"))
    resp = client.request("POST", f"/images/create?fromSrc=-&repo={quote(repo)}{changes}", body=rootfs,
                          headers={"Content-Type": "application/x-tar"}, stream=True)
    print_statuses(resp)
    return 0


def find_static_busybox() -> str:
    """The host's statically linked busybox (a dynamic one would not run in the image)."""
    for path in BUSYBOX_CANDIDATES:
        if os.path.isfile(path) and is_static_elf(path):
            return path
    raise CommandError("no statically linked busybox found (looked at "
                       f"{', '.join(BUSYBOX_CANDIDATES)}): install busybox-static")


def is_static_elf(path: str) -> bool:
    """An ELF file with no program interpreter (PT_INTERP) is statically linked."""
    with open(path, "rb") as f:
        ident = f.read(64)
        if ident[:4] != b"\x7fELF":
            return False
        wide, order = ident[4] == 2, "<" if ident[5] == 1 else ">"
        if wide:
            (phoff,) = struct.unpack_from(order + "Q", ident, 32)
            phentsize, phnum = struct.unpack_from(order + "HH", ident, 54)
        else:
            (phoff,) = struct.unpack_from(order + "I", ident, 28)
            phentsize, phnum = struct.unpack_from(order + "HH", ident, 42)
        f.seek(phoff)
        table = f.read(phentsize * phnum)
    return all(struct.unpack_from(order + "I", table, i * phentsize)[0] != 3 for i in range(phnum))


def busybox_rootfs(busybox: str) -> bytes:
    """The rootfs tar; every entry dated like the binary, so the layer is reproducible."""
    mtime = int(os.stat(busybox).st_mtime)
    applets = subprocess.run([busybox, "--list"], capture_output=True, text=True, check=True).stdout.split()
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        def add(name: str, kind: bytes, mode: int, data: bytes = b"", link: str = "") -> None:
            info = tarfile.TarInfo(name)
            info.type, info.mode, info.mtime, info.linkname, info.size = kind, mode, mtime, link, len(data)
            tar.addfile(info, io.BytesIO(data) if data else None)

        for name, mode in DIRS.items():
            add(name, tarfile.DIRTYPE, mode)
        with open(busybox, "rb") as f:
            add("bin/busybox", tarfile.REGTYPE, 0o755, f.read())
        for applet in sorted(set(applets) - {"busybox"}):
            add(f"bin/{applet}", tarfile.SYMTYPE, 0o777, link="busybox")
        for name, text in (("etc/passwd", PASSWD), ("etc/group", GROUP)):
            add(name, tarfile.REGTYPE, 0o644, text.encode())
        for name in ("etc/hostname", "etc/hosts", "etc/resolv.conf"):  # bind-mount targets
            add(name, tarfile.REGTYPE, 0o644)
    return buf.getvalue()
