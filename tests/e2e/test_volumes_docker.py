"""The real docker CLI against wharfd: ``volume create/ls/inspect/rm/prune`` and
``run -v/--mount/--tmpfs`` behave as they do against dockerd."""

from __future__ import annotations

import json
import secrets
import shutil
from pathlib import Path

import pytest

from support.commands import ok


def _name() -> str:
    return f"wharf-test-{secrets.token_hex(3)}"


@pytest.fixture
def vol(wharfd):
    name = _name()
    yield name
    wharfd.docker("volume", "rm", "-f", name)


def test_volume_commands(wharfd, busybox, vol):
    assert ok(wharfd.docker("volume", "create", "--label", "env=test", vol)) == f"{vol}\n"
    [info] = json.loads(ok(wharfd.docker("volume", "inspect", vol)))
    assert (info["Name"], info["Driver"], info["Labels"], info["Scope"]) == (vol, "local", {"env": "test"}, "local")
    assert ok(wharfd.docker("volume", "inspect", "-f", "{{.Mountpoint}}", vol)).strip() == info["Mountpoint"]
    table = ok(wharfd.docker("volume", "ls", "--filter", f"name={vol}"))
    assert table.splitlines() == ["DRIVER    VOLUME NAME", f"local     {vol}"]
    assert ok(wharfd.docker("volume", "ls", "-q", "--filter", "label=env=test")).split() == [vol]
    assert ok(wharfd.docker("volume", "ls", "--format", "{{.Name}}:{{.Labels}}",
                            "--filter", f"name={vol}")) == f"{vol}:env=test\n"
    user = ok(wharfd.docker("create", "-v", f"{vol}:/d", busybox, "true")).strip()
    try:
        r = wharfd.docker("volume", "rm", vol)
        assert r.returncode == 1
        assert f"remove {vol}: volume is in use - [{user}]" in r.stderr
        assert vol in ok(wharfd.docker("volume", "ls", "-q", "--filter", "dangling=false")).split()
    finally:
        ok(wharfd.docker("rm", user))
    assert ok(wharfd.docker("volume", "rm", vol)) == f"{vol}\n"
    r = wharfd.docker("volume", "inspect", vol)
    assert r.returncode == 1


def test_volume_prune(wharfd, busybox):
    idle = _name()
    ok(wharfd.docker("volume", "create", idle))
    try:
        # API 1.42+ (the CLI speaks 1.43): a named volume goes only with -a
        assert idle not in ok(wharfd.docker("volume", "prune", "-f")).split()
        out = ok(wharfd.docker("volume", "prune", "-af"))
        assert "Deleted Volumes:" in out and idle in out.split()
        assert "Total reclaimed space:" in out
    finally:
        wharfd.docker("volume", "rm", "-f", idle)
    assert idle not in ok(wharfd.docker("volume", "ls", "-q")).split()


def test_run_with_v_mount_and_tmpfs(wharfd, busybox, vol):
    host = Path("/tmp") / _name()
    host.mkdir()
    try:
        ok(wharfd.docker("run", "--rm", "-v", f"{vol}:/data", "-v", f"{host}:/host", busybox,
                         "sh", "-c", "echo v > /data/f; echo h > /host/f"))
        assert (host / "f").read_text() == "h\n"
        out = ok(wharfd.docker("run", "--rm", "--mount", f"type=volume,source={vol},target=/data,readonly",
                               "--mount", f"type=bind,source={host},target=/host", busybox,
                               "sh", "-c", "cat /data/f /host/f; touch /data/x 2>&1; true"))
        assert out == "v\nh\ntouch: /data/x: Read-only file system\n"
        out = ok(wharfd.docker("run", "--rm", "--tmpfs", "/t:size=1m", busybox, "sh", "-c",
                               "dd if=/dev/zero of=/t/x bs=64k count=32 2>&1; df -k /t | tail -1"))
        assert "No space left on device" in out and out.splitlines()[-1].split()[1] == "1024"
        r = wharfd.docker("run", "--rm", "--mount", "type=bind,source=/wharf-test-missing,target=/x",
                          busybox, "true")
        assert r.returncode == 125
        assert "bind source path does not exist: /wharf-test-missing" in r.stderr
        info = json.loads(ok(wharfd.docker("inspect", ok(
            wharfd.docker("create", "-v", f"{vol}:/data", busybox, "true")).strip())))[0]
        ok(wharfd.docker("rm", info["Id"]))
        assert info["Mounts"] == [{"Type": "volume", "Name": vol, "Source": f"{wharfd.data_root}/volumes/{vol}/_data",
                                   "Destination": "/data", "Driver": "local", "Mode": "z", "RW": True,
                                   "Propagation": ""}]
    finally:
        shutil.rmtree(host)


def _timeless(table: str) -> list[list[str]]:
    """Rows of cells with relative times blanked (the two commands run a moment apart)."""
    import re
    text = re.sub(r"(Less than a second|About an? (minute|hour)|\d+ (seconds?|minutes?|hours?)) ago",
                  "T ago", table)
    return [re.split(r"\s{2,}", line.strip()) for line in text.splitlines()]


def test_system_df_prints_what_docker_prints(make_wharfd):
    """Both CLIs against one daemon: the same summary and the same -v tables, volumes
    with their sizes and links included."""
    d = make_wharfd()
    r = d.wharf("run", "--name", "dfc", "-v", "dfvol:/data", "busybox", "sh", "-c",
                "echo hi > /data/x; echo y > /y")
    assert r.returncode == 0, r.stderr
    assert d.wharf("volume", "create", "emptyvol").returncode == 0
    for args in (["system", "df"], ["system", "df", "-v"]):
        ours, theirs = d.wharf(*args), d.docker(*args)
        assert ours.returncode == theirs.returncode == 0, (ours.stderr, theirs.stderr)
        assert _timeless(ours.stdout) == _timeless(theirs.stdout)
    summary = _timeless(d.wharf("system", "df").stdout)
    assert ["Local Volumes", "2", "1", "3B", "0B (0%)"] in summary
    verbose = _timeless(d.wharf("system", "df", "-v").stdout)
    assert ["dfvol", "1", "3B"] in verbose and ["emptyvol", "0", "0B"] in verbose
    assert ["Build cache usage: 0B"] in verbose
