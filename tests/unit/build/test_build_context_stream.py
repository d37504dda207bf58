"""The context's fast path: the planned tar the CLI sends, and the daemon's chunked unpack with digests."""

import gzip
import hashlib
import io
import os
import socket
import tarfile
import threading

import pytest

from wharf.build.checksum import source_hash
from wharf.build.context import extract_context, plan_context
from wharf.errors import InvalidParameter

LONG = "d" * 120 + "/" + "f" * 150  # needs pax (or GNU) long names


class Trickle(io.RawIOBase):
    """A body that arrives ``step`` bytes at a time, as a slow socket hands it over."""

    def __init__(self, data: bytes, step: int) -> None:
        self._data, self._step, self._pos = data, step, 0

    def read(self, n: int = -1) -> bytes:  # type: ignore[override]
        n = self._step if n < 0 else min(n, self._step)
        out = self._data[self._pos:self._pos + n]
        self._pos += len(out)
        return out


def tar_bytes(fmt: int, entries: list[tuple[tarfile.TarInfo, bytes | None]]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=fmt) as tar:
        for info, data in entries:
            tar.addfile(info, io.BytesIO(data) if data is not None else None)
    return buf.getvalue()


def entry(name: str, kind: bytes = tarfile.REGTYPE, data: bytes = b"", mode: int = 0o644,
          link: str = "", **pax: str) -> tuple[tarfile.TarInfo, bytes | None]:
    info = tarfile.TarInfo(name)
    info.type, info.mode, info.linkname, info.mtime = kind, mode, link, 1_600_000_000
    info.pax_headers = pax
    if kind == tarfile.REGTYPE:
        info.size = len(data)
        return info, data
    return info, None


ENTRIES = [entry("dir", tarfile.DIRTYPE, mode=0o750), entry("dir/a.txt", data=b"alpha\n"),
           entry("empty"), entry(LONG, data=os.urandom(70_000), mode=0o600),
           entry("caf\u00e9.txt", data=b"unicode name"), entry("link", tarfile.SYMTYPE, link="dir/a.txt"),
           entry("hard", tarfile.LNKTYPE, link="dir/a.txt"),
           entry("x.bin", data=b"\x00" * 1025, mode=0o755, **{"SCHILY.xattr.user.note": "hi"})]


def tree(root) -> dict:
    out = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            path = os.path.join(dirpath, name)
            st = os.lstat(path)
            rel = os.path.relpath(path, root)
            data = os.readlink(path) if os.path.islink(path) else (
                open(path, "rb").read() if os.path.isfile(path) else None)
            out[rel] = (st.st_mode, data, None if os.path.islink(path) else int(st.st_mtime))  # tarfile skips links
    return out


@pytest.mark.parametrize("fmt", [tarfile.PAX_FORMAT, tarfile.GNU_FORMAT])
@pytest.mark.parametrize("step", [1, 511, 4096, 1 << 20])
def test_any_chunking_unpacks_the_same_tree_as_tarfile(tmp_path, fmt, step):
    raw = tar_bytes(fmt, ENTRIES)
    expected, got = tmp_path / "expected", tmp_path / "got"
    expected.mkdir()
    got.mkdir()
    with tarfile.open(fileobj=io.BytesIO(raw)) as tar:
        tar.extractall(expected, numeric_owner=True)
    extract_context(Trickle(raw, step), str(got))
    assert tree(got) == tree(expected)
    assert os.stat(got / "hard").st_ino == os.stat(got / "dir/a.txt").st_ino
    if fmt == tarfile.PAX_FORMAT and os.geteuid() == 0:
        assert os.getxattr(got / "x.bin", "user.note") == b"hi"


def test_compressed_context(tmp_path):
    extract_context(io.BytesIO(gzip.compress(tar_bytes(tarfile.PAX_FORMAT, ENTRIES))), str(tmp_path))
    assert (tmp_path / "dir/a.txt").read_bytes() == b"alpha\n"


def test_a_stream_cut_after_the_last_file_is_whole_but_one_cut_inside_a_file_is_refused(tmp_path):
    raw = tar_bytes(tarfile.PAX_FORMAT, [entry("Dockerfile", data=b"FROM scratch\n")])
    end_of_data = raw.index(b"FROM scratch\n") + len(b"FROM scratch\n")
    (tmp_path / "a").mkdir()
    extract_context(io.BytesIO(raw[:end_of_data]), str(tmp_path / "a"))  # the docker CLI's `-f -`
    assert (tmp_path / "a/Dockerfile").read_text() == "FROM scratch\n"
    (tmp_path / "b").mkdir()
    with pytest.raises(InvalidParameter, match="unexpected EOF"):
        extract_context(io.BytesIO(raw[:end_of_data - 3]), str(tmp_path / "b"))


def test_garbage_and_bad_pax_records_are_refused(tmp_path):
    with pytest.raises(InvalidParameter, match="invalid tar header"):
        extract_context(io.BytesIO(b"not a tar at all" * 100), str(tmp_path))
    raw = bytearray(tar_bytes(tarfile.PAX_FORMAT, [entry("x", data=b"1", comment="c")]))
    record = raw.index(b"comment=c\n") - 3  # "NN comment=c\n": break the length
    raw[record:record + 2] = b"zz"
    with pytest.raises(InvalidParameter, match="invalid pax header"):
        extract_context(io.BytesIO(bytes(raw)), str(tmp_path))


def test_the_digests_taken_while_unpacking_give_the_same_checksums_as_reading_the_files(tmp_path):
    extracted = extract_context(io.BytesIO(tar_bytes(tarfile.PAX_FORMAT, ENTRIES)), str(tmp_path))
    st = os.stat(tmp_path / LONG)
    assert extracted[(st.st_dev, st.st_ino)] == hashlib.sha256((tmp_path / LONG).read_bytes()).hexdigest()
    for rel in ("dir", "empty", LONG, "link", "hard", "x.bin"):
        assert source_hash(str(tmp_path), rel, extracted) == source_hash(str(tmp_path), rel)
    whole = source_hash(str(tmp_path), ".", extracted)
    (tmp_path / "new").write_bytes(b"changed")  # a file the unpack did not write is read
    os.replace(tmp_path / "new", tmp_path / "x.bin")
    assert source_hash(str(tmp_path), "x.bin", extracted) == source_hash(str(tmp_path), "x.bin")
    assert source_hash(str(tmp_path), ".", extracted) != whole


@pytest.fixture
def ctx(tmp_path):
    root = tmp_path / "ctx"
    (root / "sub").mkdir(parents=True)
    (root / "Dockerfile").write_text("FROM scratch\nCOPY . /\n")
    (root / "big.bin").write_bytes(os.urandom(300_001))
    (root / "sub" / "one").write_text("1")
    os.link(root / "sub" / "one", root / "sub" / "two")
    return root


def test_planned_size_is_what_is_written_and_sendfile_sends_the_same_bytes(ctx):
    plan = plan_context(str(ctx))
    out = io.BytesIO()
    plan.write(out)
    written = out.getvalue()
    assert len(written) == plan.size
    with tarfile.open(fileobj=io.BytesIO(written)) as tar:
        names = {m.name: m for m in tar.getmembers()}
        assert tar.extractfile("big.bin").read() == (ctx / "big.bin").read_bytes()
    assert names["sub/two"].islnk() and names["sub/two"].linkname == "sub/one"
    a, b = socket.socketpair()
    received = bytearray()

    def receive() -> None:
        while data := b.recv(1 << 16):
            received.extend(data)
    reader = threading.Thread(target=receive)
    reader.start()
    try:
        plan.send(a)
    finally:
        a.close()
        reader.join()
        b.close()
    assert bytes(received) == written


def test_a_file_that_shrinks_after_planning_is_an_error_not_a_short_tar(ctx):
    plan = plan_context(str(ctx))
    (ctx / "big.bin").write_bytes(b"short")
    with pytest.raises(OSError, match="changed"):
        plan.write(io.BytesIO())
    a, b = socket.socketpair()
    with a, b, pytest.raises(OSError, match="changed"):
        b.setblocking(False)
        a.settimeout(5)
        threading.Thread(target=lambda: _drain(b), daemon=True).start()
        plan.send(a)


def _drain(sock: socket.socket) -> None:
    import select
    while select.select([sock], [], [], 5)[0]:
        try:
            if not sock.recv(1 << 16):
                return
        except OSError:
            return
