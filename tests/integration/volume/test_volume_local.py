"""The local volume driver and copy-up on the real kernel: tmpfs/bind option mounts, metadata
that survives a reload, and an image tree copied with its owners, modes and special files."""

from __future__ import annotations

import json
import os
import stat

import pytest

from wharf.errors import InvalidParameter
from wharf.linux.mountinfo import is_mount_point, mount_points
from wharf.volume import copyup
from wharf.volume.local import LocalDriver


@pytest.fixture
def driver(tmp_path):
    d = LocalDriver(str(tmp_path / "volumes"))
    yield d
    for vol in d.load():  # never leave a mount behind, whatever failed
        d.unmount(vol)


def test_metadata_survives_a_reload(driver):
    driver.create("data", {"team": "a"}, {})
    [vol] = LocalDriver(driver.root).load()
    assert (vol.name, vol.labels, vol.options) == ("data", {"team": "a"}, {})
    assert vol.to_json()["Mountpoint"] == os.path.join(driver.root, "data", "_data")
    with open(os.path.join(driver.root, "data", "volume.json")) as f:
        assert json.load(f)["Labels"] == {"team": "a"}


def test_tmpfs_option_volume_is_mounted_with_its_size_and_removed_cleanly(driver):
    vol = driver.create("fast", {}, {"type": "tmpfs", "device": "tmpfs", "o": "size=1m"})
    driver.mount(vol)
    driver.mount(vol)  # a second user does not stack a second mount
    try:
        assert is_mount_point(vol.data)
        assert os.statvfs(vol.data).f_blocks * os.statvfs(vol.data).f_frsize == 1 << 20
        with pytest.raises(OSError) as err, open(os.path.join(vol.data, "big"), "wb") as f:
            f.write(b"x" * (2 << 20))
            f.flush()
        assert err.value.errno == 28  # ENOSPC
    finally:
        driver.remove(vol)
    assert not is_mount_point(vol.data) and not os.path.exists(vol.root)


def test_a_data_root_with_spaces_and_accents_still_mounts_a_volume_once(tmp_path):
    """The kernel writes a space in mountinfo as \\040: the driver must still see its mount."""
    d = LocalDriver(str(tmp_path / "data root é" / "volumes"))
    vol = d.create("fast", {}, {"type": "tmpfs", "device": "tmpfs"})
    d.mount(vol)
    try:
        d.mount(vol)
        assert mount_points().count(vol.data) == 1
    finally:
        d.remove(vol)
    assert vol.data not in mount_points() and not os.path.exists(vol.root)


def test_bind_option_volume_shows_the_device_directory(driver, tmp_path):
    (tmp_path / "srv").mkdir()
    (tmp_path / "srv" / "index.html").write_text("hello")
    vol = driver.create("site", {}, {"type": "none", "o": "bind", "device": str(tmp_path / "srv")})
    driver.mount(vol)
    try:
        assert open(os.path.join(vol.data, "index.html")).read() == "hello"
    finally:
        driver.unmount(vol)
    assert not is_mount_point(vol.data)


@pytest.mark.parametrize("name,options,message", [
    ("a/b", {}, 'includes invalid characters for a local volume name'),
    ("ok", {"colour": "red"}, 'invalid option: "colour"'),
    ("ok", {"o": "bind", "device": "/no/such/dir"}, "no such file or directory"),
])
def test_refused(driver, name, options, message):
    with pytest.raises(InvalidParameter, match=message):
        driver.create(name, {}, options)


def test_copy_up_keeps_owners_modes_links_and_fifos(tmp_path):
    src, dst = tmp_path / "image", tmp_path / "vol"
    (src / "sub").mkdir(parents=True)
    dst.mkdir()
    (src / "sub" / "conf").write_text("port=80")
    os.chown(src / "sub" / "conf", 33, 34)
    os.chmod(src / "sub" / "conf", 0o640)
    os.chown(src, 1000, 1000)
    os.chmod(src, 0o750)
    os.symlink("sub/conf", src / "link")
    os.mkfifo(src / "pipe")
    assert copyup.copy_up(str(src), str(dst))
    st = os.stat(dst / "sub" / "conf")
    assert ((st.st_uid, st.st_gid), stat.S_IMODE(st.st_mode)) == ((33, 34), 0o640)
    root = os.stat(dst)
    assert ((root.st_uid, root.st_gid), stat.S_IMODE(root.st_mode)) == ((1000, 1000), 0o750)
    assert os.readlink(dst / "link") == "sub/conf"
    assert stat.S_ISFIFO(os.lstat(dst / "pipe").st_mode)
    assert (dst / "link").read_text() == "port=80"
    assert not copyup.copy_up(str(src), str(dst))  # only into an empty volume
    assert copyup.disk_usage(str(dst)) == len("port=80") + len("sub/conf")
