"""The mount table read back from /proc/self/mountinfo (``wharf.linux.mountinfo``)."""

from __future__ import annotations

import os

from wharf.linux.mountinfo import Mount, parse_line, unescape


def test_mountinfo_paths_keep_utf8_and_unescape_octal() -> None:
    """A rootfs under a non-ASCII or spaced path finds its own mount (rshared)."""
    assert unescape("/var/lib/wharf/café\\040data".encode()) == "/var/lib/wharf/café data"
    assert unescape(b"/a\\134b\\011c\\012d") == "/a\\b\tc\nd"


def test_a_path_that_is_not_utf8_reads_back_as_the_name_that_opens_it() -> None:
    assert os.fsencode(unescape(b"/data/\xff\\040x")) == b"/data/\xff x"


def test_a_line_with_propagation_tags_gives_every_field() -> None:
    line = (b"36 35 98:0 /sub\\040dir /var/lib/wharf/volumes/a\\040b/_data rw,noatime "
            b"shared:4 master:1 - ext4 /dev/my\\040disk rw,errors=continue\n")
    assert parse_line(line) == Mount(
        mount_id=36, parent_id=35, device="98:0", root="/sub dir",
        mount_point="/var/lib/wharf/volumes/a b/_data", options="rw,noatime",
        optional=("shared:4", "master:1"), fstype="ext4", source="/dev/my disk",
        super_options="rw,errors=continue")


def test_a_line_without_propagation_tags() -> None:
    m = parse_line(b"25 1 0:22 / /proc rw,nosuid - proc proc rw\n")
    assert (m.mount_point, m.optional, m.fstype, m.source) == ("/proc", (), "proc", "proc")
