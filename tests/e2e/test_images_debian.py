"""``wharf image bootstrap debian``: debootstrap (minbase) from Debian's packages, imported and run."""

from __future__ import annotations

import shutil

import pytest

pytestmark = pytest.mark.skipif(shutil.which("debootstrap") is None, reason="debootstrap is not installed")


def test_debian_bookworm_is_bootstrapped_with_progress_and_runs(make_wharfd) -> None:
    d = make_wharfd(with_busybox=False)
    r = d.wharf("image", "bootstrap", "debian", timeout=900)
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("sha256:")
    for step in ("Retrieving packages...", "Unpacking packages...", "Configuring packages...", "debootstrap done:"):
        assert step in r.stderr
    r = d.wharf("run", "--rm", "debian:bookworm", "sh", "-c", "cat /etc/debian_version; apt-get --version | head -1; "
                "ls /dev/full /var/cache/apt/archives/*.deb 2>&1 | wc -l")
    assert r.returncode == 0, r.stderr
    version, apt, count = r.stdout.splitlines()
    assert version.startswith("12.") and apt.startswith("apt 2.")
    assert d.wharf("image", "inspect", "-f", "{{json .Config.Cmd}}", "debian:bookworm").stdout.strip() == '["bash"]'
    assert d.wharf("run", "--rm", "debian:bookworm", "bash", "-c", "echo $0").stdout == "bash\n"
    assert count == "2"  # /dev is the runtime's, and no .deb was left behind (two "No such file" lines)
