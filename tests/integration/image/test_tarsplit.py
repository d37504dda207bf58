"""Tar-split round trips: a layer is kept once, unpacked, and its tar comes back byte for byte.

Real unpacks as root (ownership, xattrs, whiteouts as 0/0 devices); tars made
by Python's tarfile in each format and by GNU tar, with what real layers hold.
"""

from __future__ import annotations

import hashlib
import io
import os
import subprocess
import tarfile
import time
from pathlib import Path

import pytest

from wharf.image.store import ImageStore
from wharf.image.tarsplit import LayerCorrupt


def _tar(fmt: int, *members: tuple[tarfile.TarInfo, bytes | None], pad_to: int = 0) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=fmt) as tar:
        for info, data in members:
            tar.addfile(info, io.BytesIO(data) if data is not None else None)
    data = buf.getvalue()
    return data + b"\0" * (pad_to - len(data)) if pad_to > len(data) else data


def _info(name: str, kind: bytes = tarfile.REGTYPE, size: int = 0, **fields: object) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type, info.size, info.mode, info.mtime = kind, size, 0o644, 1_700_000_000
    info.uid, info.gid, info.uname, info.gname = 1000, 1000, "user", "group"
    for key, value in fields.items():
        setattr(info, key, value)
    return info


def _tricky(fmt: int) -> bytes:
    long_dir = "d/" + "x" * 120 + "/" + "y" * 90
    sparse = b"head" + b"\0" * (3 << 20) + b"tail"  # holes written as zeros
    big = os.urandom(3 << 20)  # more than a read chunk: read ahead across members
    members = [
        (_info("./", tarfile.DIRTYPE, mode=0o755), None),
        (_info("etc/", tarfile.DIRTYPE, mode=0o755), None),
        (_info("etc/motd", size=6), b"hello\n"),
        (_info("etc/empty"), b""),
        (_info("etc/hard", tarfile.LNKTYPE, linkname="etc/motd"), None),
        (_info("etc/sym", tarfile.SYMTYPE, linkname="../nowhere/at/all"), None),
        (_info("emptydir/", tarfile.DIRTYPE, mode=0o700), None),
        (_info("fifo", tarfile.FIFOTYPE), None),
        (_info("old/.wh.gone"), b""),
        (_info("opq/.wh..wh..opq"), b""),
        (_info("suid", size=3, mode=0o4755, uid=0, gid=0), b"bin"),
        (_info(long_dir + "/" + "z" * 80, size=4), b"long"),
        (_info("sparse", size=len(sparse)), sparse),
        (_info("big", size=len(big)), big),
        (_info("tail", size=5), b"tail\n"),
    ]
    if fmt == tarfile.PAX_FORMAT:
        members += [
            (_info("xattr", size=1, pax_headers={"SCHILY.xattr.user.k": "v"}), b"x"),
            (_info("ünïcode-ñame", size=2), b"ok"),
            (_info("hugeuid", size=1, uid=10_000_000), b"u"),
        ]
    return _tar(fmt, *members)


@pytest.fixture
def store(tmp_path: Path) -> ImageStore:
    return ImageStore(str(tmp_path / "image"))


def _round_trip(store: ImageStore, data: bytes, split: bool = True) -> None:
    layer = store.register_layer(io.BytesIO(data))
    assert layer.diff_id == "sha256:" + hashlib.sha256(data).hexdigest()
    assert store.layers.has_split(layer.chain_id) is split
    assert store.content.exists(layer.diff_id) is not split  # one copy: the tar only when unsplittable
    if split:  # headers only: the files' bytes are the layer's
        assert os.path.getsize(store.layers.split_path(layer.chain_id)) < 8192
    tar = store.layer_tar(layer.chain_id)
    assert tar.size == len(data)
    with tar.open() as f:
        assert f.read() == data
    tar.verify()


@pytest.mark.parametrize("fmt", [tarfile.GNU_FORMAT, tarfile.PAX_FORMAT, tarfile.USTAR_FORMAT])
def test_tricky_tars_come_back_byte_for_byte(store: ImageStore, fmt: int) -> None:
    if fmt == tarfile.USTAR_FORMAT:  # no long names in ustar: the rest of the tricky set
        data = _tar(fmt, *[(i, d) for i, d in _members_ustar()], pad_to=20480)
    else:
        data = _tricky(fmt)
    _round_trip(store, data)


def _members_ustar() -> list[tuple[tarfile.TarInfo, bytes | None]]:
    return [(_info("a/", tarfile.DIRTYPE, mode=0o755), None), (_info("a/f", size=2), b"hi"),
            (_info("a/l", tarfile.LNKTYPE, linkname="a/f"), None), (_info("a/.wh.x"), b"")]


def test_gnu_tar_with_xattrs_and_trailing_record_padding(store: ImageStore, tmp_path: Path) -> None:
    src = tmp_path / "src"
    (src / "dir/sub").mkdir(parents=True)
    (src / "dir/file").write_bytes(os.urandom(70_000))
    os.link(src / "dir/file", src / "dir/link")
    os.symlink("file", src / "dir/sym")
    os.mkfifo(src / "dir/fifo")
    os.setxattr(src / "dir/file", "user.note", b"kept")
    out = subprocess.run(["tar", "--xattrs", "--numeric-owner", "-C", str(src), "-cf", "-", "dir"],
                         check=True, capture_output=True).stdout
    assert len(out) % 10240 == 0  # GNU tar's record padding, part of the diff ID
    _round_trip(store, out)


def test_gnu_sparse_and_renamed_paths_keep_the_tar(store: ImageStore, tmp_path: Path) -> None:
    """Tars whose files cannot give their bytes back are kept whole (and still verified)."""
    src = tmp_path / "src"
    src.mkdir()
    with open(src / "holes", "wb") as f:
        f.truncate(8 << 20)
        f.write(b"start")
    (src / "after").write_bytes(b"x" * 5000)  # read on by tarfile, from the sparse file's headers on
    for fmt in ("gnu", "posix"):  # a GNU sparse header; pax records ahead of the entry
        sparse = subprocess.run(["tar", "--sparse", f"--format={fmt}", "-C", str(src), "-cf", "-", "holes", "after"],
                                check=True, capture_output=True).stdout
        _round_trip(store, sparse, split=False)
        layer = store.layers.diff_dir(store.register_layer(io.BytesIO(sparse)).chain_id)
        assert Path(layer, "holes").read_bytes() == (src / "holes").read_bytes()
        assert Path(layer, "after").read_bytes() == b"x" * 5000
    twice = _tar(tarfile.PAX_FORMAT, (_info("f", size=3), b"one"), (_info("f", size=3), b"two"))
    _round_trip(store, twice, split=False)
    big = os.urandom(3 << 20)  # the tar so far is rebuilt from the files when the repeat shows up
    late = _tar(tarfile.GNU_FORMAT, (_info("big", size=len(big)), big), (_info("x" * 200, size=2), b"xx"),
                (_info("big", size=4), b"late"), (_info("after", size=len(big)), big), pad_to=(7 << 20) + 10240)
    _round_trip(store, late, split=False)
    whited = _tar(tarfile.PAX_FORMAT, (_info("d/", tarfile.DIRTYPE), None), (_info("d/f", size=1), b"1"),
                  (_info(".wh.d"), b""))
    _round_trip(store, whited, split=False)


def test_a_changed_byte_fails_the_rebuild(store: ImageStore) -> None:
    data = _tar(tarfile.PAX_FORMAT, (_info("f", size=5), b"hello"))
    layer = store.register_layer(io.BytesIO(data))
    path = Path(store.layers.diff_dir(layer.chain_id)) / "f"
    os.chmod(path, 0o644)
    path.write_bytes(b"jello")
    with pytest.raises(LayerCorrupt, match="could not verify layer data for: " + layer.diff_id):
        store.layer_tar(layer.chain_id).verify()
    path.write_bytes(b"hello!")  # resized: refused without hashing
    with pytest.raises(LayerCorrupt):
        store.layer_tar(layer.chain_id).verify()


def test_a_store_that_kept_layer_tars_is_migrated_at_start(tmp_path: Path) -> None:
    root = str(tmp_path / "image")
    store = ImageStore(root)
    data = _tricky(tarfile.PAX_FORMAT)
    layer = store.register_layer(io.BytesIO(data))
    store.create({"rootfs": {"type": "layers", "diff_ids": [layer.diff_id]}})
    # as the previous version left it: the tar as a blob, no tar-split
    with store.layer_tar(layer.chain_id).open() as f:
        store.content.put(f.read(), layer.diff_id)
    os.unlink(store.layers.split_path(layer.chain_id))
    started = time.monotonic()
    reopened = ImageStore(root)
    print(f"migration of a {len(data) >> 20} MiB layer: {time.monotonic() - started:.3f}s")
    assert reopened.layers.has_split(layer.chain_id)
    assert not reopened.content.exists(layer.diff_id)
    with reopened.layer_tar(layer.chain_id).open() as f:
        assert f.read() == data
