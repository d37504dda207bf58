"""The image store keeps one copy of each layer, trusts none of it blindly, and starts
past broken files: what a user sees through the CLI of a private daemon."""

from __future__ import annotations

import io
import json
import os
import sys
import tarfile
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "integration" / "registry_client"))
from registries import wharf_registry  # noqa: E402
from support.commands import ok  # noqa: E402

CORRUPT = "could not verify layer data for: sha256:"


def inspect(d, ref: str) -> dict:
    return json.loads(ok(d.wharf("image", "inspect", ref)))[0]


def layer_dir(d, ref: str) -> Path:
    return Path(inspect(d, ref)["GraphDriver"]["Data"]["UpperDir"])


@pytest.fixture
def daemon(make_wharfd):
    return make_wharfd()


def test_one_copy_per_layer_and_df_counts_it(daemon) -> None:
    image = daemon.data_root / "image"
    assert all(p.stat().st_size < 65536 for p in (image / "content" / "sha256").iterdir())  # configs only
    assert (layer_dir(daemon, "busybox").parent / "tar-split.gz").stat().st_size < 65536
    used = sum(f.stat().st_size for f in image.rglob("*") if f.is_file() and not f.is_symlink())
    layers = daemon.api("GET", "/system/df")[1]["LayersSize"]
    assert layers <= used < layers * 1.05 + 65536  # what df counts is what the disk holds


def test_a_flipped_byte_fails_save_push_and_check(daemon, tmp_path: Path) -> None:
    assert "no problems found" in ok(daemon.wharf("image", "check"))
    target = layer_dir(daemon, "busybox") / "bin" / "busybox"
    original = target.read_bytes()
    flipped = bytearray(original)
    flipped[len(flipped) // 2] ^= 0x01
    target.write_bytes(bytes(flipped))
    try:
        out = tmp_path / "busybox.tar"
        r = daemon.wharf("save", "-o", str(out), "busybox")
        assert r.returncode != 0 and CORRUPT in r.stderr, r.stderr
        assert not out.exists() and not list(tmp_path.iterdir())

        server = wharf_registry(tmp_path, "open")
        try:
            ref = f"{server.addr}/integrity/busybox:1"
            ok(daemon.wharf("tag", "busybox", ref))
            r = daemon.wharf("push", ref)
            assert r.returncode != 0 and CORRUPT in r.stdout + r.stderr, r.stdout + r.stderr
            assert not list((server.root / "blobs").rglob("*")) or all(
                p.is_dir() or p.stat().st_size < 65536 for p in (server.root / "blobs").rglob("*"))
        finally:
            server.stop()

        r = daemon.wharf("image", "check")
        assert r.returncode == 1 and CORRUPT in r.stdout, r.stdout + r.stderr
        assert inspect(daemon, "busybox")["RootFS"]["Layers"][0] in r.stdout
    finally:
        target.write_bytes(original)
    assert "no problems found" in ok(daemon.wharf("image", "check"))
    good = tmp_path / "good.tar"
    ok(daemon.wharf("save", "-o", str(good), "busybox"))

    # load: an archive whose layer is not what its name and the config say is refused
    layer_hex = inspect(daemon, "busybox")["RootFS"]["Layers"][0].removeprefix("sha256:")
    with tarfile.open(good) as archive:
        member = archive.getmember(f"blobs/sha256/{layer_hex}")
    data = bytearray(good.read_bytes())
    data[member.offset_data + member.size // 2] ^= 0x01
    bad = tmp_path / "bad.tar"
    bad.write_bytes(bytes(data))
    ok(daemon.wharf("rmi", "busybox", f"{server.addr}/integrity/busybox:1"))
    r = daemon.wharf("load", "-i", str(bad))
    assert r.returncode == 1 and f'blob "blobs/sha256/{layer_hex}" does not match its digest' in r.stderr, r.stderr
    assert ok(daemon.wharf("images", "-q")) == ""
    assert "Loaded image: busybox:latest" in ok(daemon.wharf("load", "-i", str(good)))


def _small_tar() -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        info = tarfile.TarInfo("junk")
        info.size = 4
        tar.addfile(info, io.BytesIO(b"junk"))
    return buf.getvalue()


def test_garbage_config_is_skipped_at_start_and_rmi_f_removes_it(daemon, tmp_path: Path) -> None:
    tar = tmp_path / "junk.tar"
    tar.write_bytes(_small_tar())
    junk = ok(daemon.wharf("import", str(tar), "junk:1")).strip()
    junk_layer = layer_dir(daemon, "junk:1").parent
    busybox = inspect(daemon, "busybox")["Id"]
    config = daemon.data_root / "image" / "content" / "sha256" / junk.removeprefix("sha256:")
    config.write_bytes(b'{"architecture": "amd64", "rootfs": {"diff_')  # torn
    daemon.restart()
    assert f"invalid image {junk}" in daemon.log()
    assert ok(daemon.wharf("images", "-q", "--no-trunc")).split() == [busybox]
    assert ok(daemon.wharf("run", "--rm", "--network=none", "busybox", "echo", "served")).strip() == "served"
    r = daemon.wharf("image", "check")
    assert r.returncode == 1 and f"image {junk}: its config does not match its ID" in r.stdout, r.stdout
    r = daemon.wharf("rmi", "junk:1")
    assert r.returncode == 1 and "No such image: junk:1" in r.stderr
    out = ok(daemon.wharf("rmi", "-f", junk))
    assert f"Untagged: junk:1\nDeleted: {junk}" in out
    assert not config.exists() and not junk_layer.exists()  # its layer went with it
    assert "no problems found" in ok(daemon.wharf("image", "check"))
    daemon.restart()
    assert ok(daemon.wharf("images", "-q", "--no-trunc")).split() == [busybox]


def test_truncated_repositories_json_keeps_what_it_can(daemon) -> None:
    ok(daemon.wharf("tag", "busybox", "second:tag"))
    daemon.stop()
    repos = daemon.data_root / "image" / "repositories.json"
    text = repos.read_text()
    cut = text.index("second")  # busybox:latest is before it: "docker.io/library/busybox" < ".../second"
    repos.write_text(text[:cut + 10])
    daemon.start()
    assert "repositories.json is not valid" in daemon.log()
    backups = list(repos.parent.glob("repositories.json.broken-*"))
    assert len(backups) == 1 and backups[0].read_text() == text[:cut + 10]
    tags = ok(daemon.wharf("images", "--format", "{{.Repository}}:{{.Tag}}")).split()
    assert tags == ["busybox:latest"]
    assert json.loads(repos.read_text())["Repositories"]  # rewritten whole
    os.unlink(backups[0])


def test_config_garbled_while_running_is_left_out_of_images(daemon, tmp_path: Path) -> None:
    tar = tmp_path / "junk.tar"
    tar.write_bytes(_small_tar())
    junk = ok(daemon.wharf("import", str(tar), "junk:2")).strip()
    busybox = inspect(daemon, "busybox")["Id"]
    config = daemon.data_root / "image" / "content" / "sha256" / junk.removeprefix("sha256:")
    config.write_bytes(b"\0" * 64)
    assert ok(daemon.wharf("images", "-q", "--no-trunc")).split() == [busybox]
    assert f"invalid image {junk}" in daemon.log()
    assert f"Deleted: {junk}" in ok(daemon.wharf("rmi", "-f", junk))


def test_two_100mb_images_fit_on_a_256mb_data_root(make_wharfd, tmp_path: Path) -> None:
    """Each layer is on disk once: with its tar kept too, the second would not fit."""
    d = make_wharfd(data_disk_mb=256)
    for n in (1, 2):
        tar = tmp_path / f"big{n}.tar"
        with tarfile.open(tar, "w") as archive:
            for i in range(50):  # 100 MB in 2 MB files
                info = tarfile.TarInfo(f"data/{i}")
                info.size = 2 << 20
                archive.addfile(info, io.BytesIO(os.urandom(info.size)))
        ok(d.wharf("import", str(tar), f"big:{n}"))
        tar.unlink()
    assert sorted(ok(d.wharf("images", "--format", "{{.Repository}}:{{.Tag}}")).split()) == \
        ["big:1", "big:2", "busybox:latest"]
    st = os.statvfs(d.data_root)
    assert (st.f_blocks - st.f_bfree) * st.f_frsize < 235 << 20  # two 105 MB layers, busybox, ext4's own
    assert "no problems found" in ok(d.wharf("image", "check"))
