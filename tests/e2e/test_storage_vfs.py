"""``wharfd --storage-driver vfs``: every layer and container a full copy, and still
everything a user does with images and containers works; a data root keeps its driver."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tarfile
import textwrap
from pathlib import Path

import pytest

from support.commands import ok
from support.daemon import Daemon
from support.polling import eventually

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "integration" / "registry_client"))
from registries import wharf_registry  # noqa: E402


class OverlayRoot:
    """A data root on overlayfs, as a daemon run inside a container has it: overlayfs
    refuses an upper dir there. Mounted at the daemon's start, unmounted at its purge
    (``Daemon.disk``'s part)."""

    def __init__(self, base: Path, mountpoint: Path) -> None:
        self.dirs = [base / n for n in ("ovl-lower", "ovl-upper", "ovl-work")]
        self.mountpoint = mountpoint

    def mount(self) -> None:
        for d in self.dirs:
            d.mkdir(parents=True, exist_ok=True)
        lower, upper, work = self.dirs
        subprocess.run(["mount", "-t", "overlay", "overlay", "-o",
                        f"lowerdir={lower},upperdir={upper},workdir={work}", str(self.mountpoint)],
                       check=True, capture_output=True)

    def unmount(self) -> None:
        subprocess.run(["umount", "-l", str(self.mountpoint)], capture_output=True)


@pytest.fixture
def vfs(make_wharfd):
    return make_wharfd(extra_args=["--storage-driver", "vfs"])


def layer_dirs(d) -> set[str]:
    return {n for n in os.listdir(d.data_root / "image" / "layers") if len(n) == 64}


def test_info_run_commit_diff_cp_export_rm(vfs, tmp_path: Path) -> None:
    assert ok(vfs.docker("info", "--format", "{{.Driver}}")).strip() == "vfs"
    ok(vfs.docker("run", "--name", "vc", "busybox", "sh", "-c",
                  "echo hi > /new; rm /bin/ls; echo more >> /etc/passwd"))
    assert ok(vfs.docker("inspect", "--format", "{{.Driver}} {{.GraphDriver.Name}}", "vc")).split() == ["vfs", "vfs"]
    assert ok(vfs.docker("diff", "vc")).splitlines() == ["C /bin", "D /bin/ls", "C /etc", "C /etc/passwd", "A /new"]

    (tmp_path / "in.txt").write_text("copied in")
    ok(vfs.docker("cp", str(tmp_path / "in.txt"), "vc:/in.txt"))
    ok(vfs.docker("cp", "vc:/new", str(tmp_path / "out.txt")))
    assert (tmp_path / "out.txt").read_text() == "hi\n"

    ok(vfs.docker("commit", "vc", "snap:1"))
    out = ok(vfs.docker("run", "--rm", "snap:1", "sh", "-c", "cat /new /in.txt; ls /bin/ls || echo no ls"))
    assert out == "hi\ncopied inno ls\n"
    assert ok(vfs.docker("image", "inspect", "--format", "{{.GraphDriver.Name}}", "snap:1")).strip() == "vfs"

    ok(vfs.docker("export", "-o", str(tmp_path / "c.tar"), "vc"))
    with tarfile.open(tmp_path / "c.tar") as tar:
        names = set(tar.getnames())
    assert {"new", "in.txt", "bin/sh"} <= names and "bin/ls" not in names

    ok(vfs.docker("rm", "vc"))
    rw = vfs.data_root / "image" / "rw"  # run --rm's and rm's copies go after the answers
    assert eventually(lambda: os.listdir(rw) == [".tmp"] and os.listdir(rw / ".tmp") == []), os.listdir(rw)
    ok(vfs.docker("rmi", "snap:1"))


def test_build_with_several_steps(vfs, tmp_path: Path) -> None:
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    (ctx / "app.txt").write_text("from the context\n")
    (ctx / "Dockerfile").write_text(textwrap.dedent("""\
        FROM busybox
        RUN mkdir -p /app && echo built > /app/built && rm /bin/ls
        COPY app.txt /app/
        WORKDIR /app
        RUN --mount=type=tmpfs,target=/scratch cat built app.txt > both && rm built
        ENV GREETING=hello
        CMD ["sh", "-c", "cat both; ls /app; ls /bin/ls || echo $GREETING"]
        """))
    r = vfs.wharf("build", "-t", "built:1", str(ctx))
    assert r.returncode == 0, r.stdout + r.stderr
    assert ok(vfs.docker("run", "--rm", "built:1")) == "built\nfrom the context\napp.txt\nboth\nhello\n"
    history = json.loads(ok(vfs.docker("image", "inspect", "built:1")))[0]["RootFS"]["Layers"]
    assert len(history) == 4  # busybox + RUN + COPY + RUN (no layer for a mount's stub)
    ok(vfs.docker("rmi", "built:1"))


def test_save_load_push_pull_and_rmi_frees_the_disk(vfs, tmp_path: Path) -> None:
    before = layer_dirs(vfs)
    ok(vfs.docker("run", "--name", "vw", "busybox", "sh", "-c", "head -c 3000000 /dev/urandom > /blob"))
    ok(vfs.docker("commit", "vw", "big:1"))
    ok(vfs.docker("rm", "vw"))
    assert len(layer_dirs(vfs)) == len(before) + 1

    ok(vfs.docker("save", "-o", str(tmp_path / "big.tar"), "big:1"))
    ok(vfs.docker("rmi", "big:1"))
    assert layer_dirs(vfs) == before  # the copy of busybox in the new layer is gone with it
    assert "Loaded image: big:1" in ok(vfs.docker("load", "-i", str(tmp_path / "big.tar")))
    assert ok(vfs.docker("run", "--rm", "big:1", "sh", "-c", "wc -c < /blob")).strip() == "3000000"
    r = vfs.wharf("image", "check")  # every layer's tar rebuilt from its whole tree hashes right
    assert r.returncode == 0 and "no problems found" in r.stdout, r.stdout + r.stderr

    server = wharf_registry(tmp_path, "open")
    try:
        ref = f"{server.addr}/vfs/big:1"
        ok(vfs.docker("tag", "big:1", ref))
        ok(vfs.docker("push", ref))
        ok(vfs.docker("rmi", ref, "big:1"))
        assert layer_dirs(vfs) == before
        ok(vfs.docker("pull", ref))
        assert ok(vfs.docker("run", "--rm", ref, "sh", "-c", "wc -c < /blob")).strip() == "3000000"
        ok(vfs.docker("rmi", ref))
    finally:
        server.stop()
    assert layer_dirs(vfs) == before


def test_daemon_json_chooses_vfs(make_wharfd) -> None:
    d = make_wharfd(with_busybox=False, daemon_json={"storage-driver": "vfs"})
    assert ok(d.docker("info", "--format", "{{.Driver}}")).strip() == "vfs"


def test_a_data_root_keeps_its_driver(make_wharfd) -> None:
    d = make_wharfd(extra_args=["--storage-driver", "vfs"])
    d.stop()
    d.extra_args = ["--storage-driver", "overlay2"]
    with pytest.raises(RuntimeError, match="holds the images and containers of the vfs storage "
                                           "driver, not overlay2"):
        d.start()
    d.extra_args = []  # no driver asked: the data root's own
    d.start()
    assert ok(d.docker("info", "--format", "{{.Driver}}")).strip() == "vfs"
    assert "busybox:latest" in ok(d.docker("images", "--format", "{{.Repository}}:{{.Tag}}"))

    o = make_wharfd(with_busybox=False)
    assert ok(o.docker("info", "--format", "{{.Driver}}")).strip() == "overlay2"
    o.stop()
    o.extra_args = ["--storage-driver", "vfs"]
    with pytest.raises(RuntimeError, match="of the overlay2 storage driver, not vfs: start with "
                                           "--storage-driver overlay2"):
        o.start()
    o.extra_args = []
    o.start()


def test_a_data_root_on_overlayfs_falls_back_to_vfs_and_its_whiteouts_work(tmp_path: Path) -> None:
    d = Daemon()
    d.disk = OverlayRoot(d.base, d.data_root)
    try:
        d.start()
        assert "falling back to the vfs storage driver" in d.log()
        assert ok(d.docker("info", "--format", "{{.Driver}}")).strip() == "vfs"
        r = d.wharf("image", "bootstrap", "busybox")
        assert r.returncode == 0, r.stderr
        ok(d.docker("run", "--name", "gone", "busybox", "sh", "-c", "rm /bin/ls /etc/passwd; echo x > /x"))
        ok(d.docker("commit", "gone", "gone:1"))
        ok(d.docker("rm", "gone"))
        out = ok(d.docker("run", "--rm", "gone:1", "sh", "-c",
                          "for p in /bin/ls /etc/passwd /x; do [ -e $p ] && echo $p; done"))
        assert out == "/x\n"  # the deletions are in the image
        ok(d.docker("rmi", "gone:1"))
    finally:
        problems = d.shutdown()
    assert not problems, problems
