"""``docker commit`` (which pauses a running container by default) through the real docker
CLI: changes applied, the container left as it was, and a container that exits while the
commit pauses it is committed, not an error."""

from __future__ import annotations

import json

from support.daemon import Daemon


def _inspect(d: Daemon, ref: str) -> dict:
    return json.loads(d.docker("inspect", ref, check=True).stdout)[0]


def test_commit_of_a_container_exiting_meanwhile(wharfd: Daemon, busybox: str) -> None:
    """``run -d`` then ``commit`` at once: the container exits around the pause (its cgroup
    gone before the exit is handled, or the exit handled while paused) in some rounds."""
    images = []
    try:
        for _ in range(10):
            cid = wharfd.docker("run", "-d", busybox, "touch", "/test", check=True).stdout.strip()
            r = wharfd.docker("commit", "-c", "EXPOSE 8000", "-c", 'CMD ["bash"]', cid)
            wharfd.docker("rm", "-f", cid)
            assert r.returncode == 0, r.stderr
            images.append(r.stdout.strip())
            config = _inspect(wharfd, images[-1])["Config"]
            assert "8000/tcp" in config["ExposedPorts"] and config["Cmd"] == ["bash"]
    finally:
        if images:
            wharfd.docker("rmi", *images)


def test_commit_leaves_a_running_container_running_unpaused(wharfd: Daemon, busybox: str) -> None:
    cid = wharfd.docker("run", "-d", busybox, "sleep", "60", check=True).stdout.strip()
    try:
        image = wharfd.docker("commit", cid, check=True).stdout.strip()
        state = _inspect(wharfd, cid)["State"]
        assert (state["Running"], state["Paused"]) == (True, False)
        wharfd.docker("rmi", image)
    finally:
        wharfd.docker("rm", "-f", cid)
