"""``wharf cp`` and ``docker cp`` against wharfd, with a container whose
symlinks point at ``/``, climb with ``..`` or name host paths: every read and
write lands inside the container, never on the host."""

from __future__ import annotations

import os
import subprocess
import uuid

import pytest

HOSTILE = ("ln -s / /evil && ln -s ../../../../.. /up && ln -s {host} /hostish && "
           "mkdir -p /data && echo inside > /data/file && ln -s /etc/hostname /data/link && "
           "echo in-container > /etc/marker")


@pytest.fixture
def hostile(wharfd, busybox, tmp_path):
    host_dir = tmp_path / "host-only"
    host_dir.mkdir()
    r = wharfd.wharf("run", "-d", busybox, "sh", "-c",
                     HOSTILE.format(host=host_dir) + " && sleep 300")
    assert r.returncode == 0, r.stderr
    cid = r.stdout.strip()
    for _ in range(100):
        if wharfd.wharf("exec", cid, "cat", "/etc/marker").returncode == 0:
            break
    yield cid, host_dir
    wharfd.wharf("rm", "-f", cid)


def cat(wharfd, cid, path):
    return wharfd.wharf("exec", cid, "cat", path).stdout


def test_round_trip_file_and_directory(wharfd, hostile, tmp_path):
    cid, _ = hostile
    src = tmp_path / "tree"
    (src / "sub").mkdir(parents=True)
    (src / "sub" / "a.txt").write_text("alpha")
    r = wharfd.wharf("cp", str(src), f"{cid}:/data/")
    assert r.returncode == 0, r.stderr
    assert cat(wharfd, cid, "/data/tree/sub/a.txt") == "alpha"
    out = tmp_path / "back"
    r = wharfd.wharf("cp", f"{cid}:/data", str(out))
    assert r.returncode == 0, r.stderr
    assert (out / "file").read_text() == "inside\n"
    assert (out / "tree" / "sub" / "a.txt").read_text() == "alpha"
    assert os.readlink(out / "link") == "/etc/hostname"  # copied as a link, not followed
    r = wharfd.wharf("cp", "-L", f"{cid}:/data/link", str(tmp_path / "followed"))
    assert (tmp_path / "followed").read_text() == cat(wharfd, cid, "/etc/hostname")


def test_writes_through_hostile_links_stay_inside(wharfd, hostile, tmp_path):
    cid, host_dir = hostile
    name = f"wharf-test-{uuid.uuid4().hex[:8]}"
    src = tmp_path / name
    src.write_text("payload")
    try:
        for dest in (f"/evil/{name}", f"/up/{name}", f"/evil/tmp/../{name}"):
            r = wharfd.wharf("cp", str(src), f"{cid}:{dest}")
            assert r.returncode == 0, (dest, r.stderr)
            assert not os.path.exists(f"/{name}") and not os.path.exists(f"/tmp/{name}")
            assert cat(wharfd, cid, f"/{name}") == "payload"
        r = wharfd.wharf("cp", str(src), f"{cid}:/hostish/{name}")
        assert r.returncode != 0 and "Could not find the file" in r.stderr
        assert os.listdir(host_dir) == []
    finally:
        for leftover in (f"/{name}", f"/tmp/{name}"):
            if os.path.exists(leftover):
                os.unlink(leftover)


def test_reads_through_hostile_links_stay_inside(wharfd, hostile, tmp_path):
    cid, _ = hostile
    for path in ("/evil/etc/marker", "/up/etc/marker", "/evil/../../etc/marker"):
        out = tmp_path / f"m{abs(hash(path))}"
        r = wharfd.wharf("cp", f"{cid}:{path}", str(out))
        assert r.returncode == 0, (path, r.stderr)
        assert out.read_text() == "in-container\n"
    r = wharfd.wharf("cp", f"{cid}:/evil/etc/passwd", "-")
    assert r.returncode == 0
    with open("/etc/passwd") as f:
        assert f.read() not in r.stdout  # the container's passwd, not the host's
    r = wharfd.wharf("cp", f"{cid}:/hostish/.", str(tmp_path / "x"))
    assert r.returncode != 0 and "Could not find the file" in r.stderr


def test_stopped_container(wharfd, busybox, tmp_path):
    r = wharfd.wharf("create", busybox, "true")
    cid = r.stdout.strip()
    try:
        (tmp_path / "f").write_text("while stopped")
        assert wharfd.wharf("cp", str(tmp_path / "f"), f"{cid}:/f").returncode == 0
        r = wharfd.wharf("cp", f"{cid}:/f", str(tmp_path / "g"))
        assert r.returncode == 0, r.stderr
        assert (tmp_path / "g").read_text() == "while stopped"
        r = wharfd.wharf("cp", f"{cid}:/nope", str(tmp_path / "h"))
        assert r.returncode == 1
        assert r.stderr.strip() == f"Error response from daemon: Could not find the file /nope in container {cid}"
    finally:
        wharfd.wharf("rm", "-f", cid)


def test_racing_symlink_swaps_never_reach_the_host(wharfd, hostile, tmp_path):
    """A process inside flips /race between a directory and a link to / while we copy."""
    cid, _ = hostile
    name = f"wharf-test-{uuid.uuid4().hex[:8]}"
    (tmp_path / name).write_text("x")
    flipper = subprocess.Popen([*wharfd_cmd(wharfd), "exec", cid, "sh", "-c",
                                "while true; do rm -rf /race; mkdir /race; rm -rf /race; "
                                "ln -s / /race; done"])
    try:
        for _ in range(15):
            wharfd.wharf("cp", str(tmp_path / name), f"{cid}:/race/{name}")
            wharfd.wharf("cp", f"{cid}:/race/etc/marker", str(tmp_path / "read"))
            assert not os.path.exists(f"/{name}")
            if (tmp_path / "read").exists():
                assert (tmp_path / "read").read_text() == "in-container\n"
    finally:
        flipper.kill()
        flipper.wait()
        if os.path.exists(f"/{name}"):
            os.unlink(f"/{name}")


def wharfd_cmd(wharfd):
    from support.daemon import BIN
    return [str(BIN / "wharf"), "-H", wharfd.host]


def test_docker_cli_cp(wharfd, hostile, tmp_path):
    cid, _ = hostile
    (tmp_path / "d.txt").write_text("from docker")
    r = wharfd.docker("cp", str(tmp_path / "d.txt"), f"{cid}:/evil/d.txt")
    assert r.returncode == 0, r.stderr
    assert cat(wharfd, cid, "/d.txt") == "from docker"
    assert not os.path.exists("/d.txt")
    r = wharfd.docker("cp", f"{cid}:/up/etc/marker", str(tmp_path / "m"))
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "m").read_text() == "in-container\n"
