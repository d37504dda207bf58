"""Paths read back from /proc/self/mountinfo."""

from __future__ import annotations

from wharf.runtime.rootfs import _unescape


def test_mountinfo_paths_keep_utf8_and_unescape_octal() -> None:
    """A rootfs under a non-ASCII or spaced path finds its own mount (rshared)."""
    assert _unescape("/var/lib/wharf/café\\040data") == "/var/lib/wharf/café data"
    assert _unescape("/a\\134b\\011c") == "/a\\b\tc"
