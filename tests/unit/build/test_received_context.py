"""The context kept in memory: the same checksums, sources and files as the unpacked one."""

import io
import os
import tarfile

import pytest

from wharf.build.checksum import source_hash
from wharf.build.context import extract_context, plan_context
from wharf.build.copier import DiskTree
from wharf.build.received import receive
from wharf.errors import NotFound


@pytest.fixture
def ctx(tmp_path):
    root = tmp_path / "ctx"
    for d in ("src/lib", "src/b", "data", "empty"):
        (root / d).mkdir(parents=True)
    (root / "Dockerfile").write_text("FROM x\n")
    (root / ".dockerignore").write_text("*.tmp\nDockerfile\n")
    (root / "src/lib/a.py").write_text("a")
    (root / "src/b/z.py").write_text("z")
    (root / "src/main.py").write_text("main")
    (root / "data/blob.bin").write_bytes(os.urandom(300_000))
    (root / "tool.sh").write_text("#!/bin/sh\n")
    os.chmod(root / "tool.sh", 0o4755)
    os.chmod(root / "src/b", 0o700)
    return root


def _received(root, tmp_path, name="got"):
    buf = io.BytesIO()
    plan_context(str(root)).write(buf)
    dest = tmp_path / name
    dest.mkdir()
    return receive(io.BytesIO(buf.getvalue()), str(dest)), buf.getvalue()


def test_a_plain_context_stays_in_memory_with_the_unpacked_checksums(ctx, tmp_path):
    got, raw = _received(ctx, tmp_path)
    assert os.listdir(got.root) == []  # nothing written for checksums
    unpacked = tmp_path / "unpacked"
    unpacked.mkdir()
    digests = extract_context(io.BytesIO(raw), str(unpacked))
    for rel in ("", ".", "src", "src/b", "src/lib/a.py", "tool.sh", "empty", "data"):
        assert got.source_hash(rel) == source_hash(str(unpacked), rel, digests), rel
    assert got.paths() == DiskTree(str(unpacked)).paths()
    assert [s.rel for s in got.resolve("src/*/*.py", "COPY", False)] == ["src/b/z.py", "src/lib/a.py"]
    with pytest.raises(NotFound, match="file not found in build context"):
        got.resolve("nope", "COPY", False)


def test_files_are_written_only_when_asked_and_match_the_unpacked_tree(ctx, tmp_path):
    got, _ = _received(ctx, tmp_path)
    before = got.source_hash("")
    root = got.files()
    assert (ctx / "data/blob.bin").read_bytes() == open(os.path.join(root, "data/blob.bin"), "rb").read()
    assert os.stat(os.path.join(root, "tool.sh")).st_mode & 0o7777 == 0o4755
    assert source_hash(root, ".") == before == got.source_hash("")


def test_a_changed_file_changes_the_checksum(ctx, tmp_path):
    first = _received(ctx, tmp_path, "a")[0].source_hash("src")
    (ctx / "src/lib/a.py").write_text("b")
    assert _received(ctx, tmp_path, "b")[0].source_hash("src") != first


def test_dockerfile_and_ignored_build_files_from_memory(ctx, tmp_path):
    got, _ = _received(ctx, tmp_path)
    assert got.dockerfile("Dockerfile") == got.dockerfile("./sub/../Dockerfile") == "FROM x\n"
    with pytest.raises(NotFound, match="Cannot locate specified Dockerfile: src"):
        got.dockerfile("src")
    got.drop_ignored_build_files("Dockerfile")
    assert not got.exists("Dockerfile") and got.exists(".dockerignore")
    assert not os.path.exists(os.path.join(got.files(), "Dockerfile"))


def test_links_send_the_context_to_disk_with_the_same_checksums(ctx, tmp_path):
    (ctx / "src/link").symlink_to("main.py")
    got, raw = _received(ctx, tmp_path)
    assert sorted(os.listdir(got.root)) == [".dockerignore", "Dockerfile", "data", "empty", "src", "tool.sh"]
    unpacked = tmp_path / "unpacked"
    unpacked.mkdir()
    assert got.source_hash("src") == source_hash(str(unpacked), "src", extract_context(io.BytesIO(raw), str(unpacked)))


def test_a_tar_without_its_directories_is_unpacked_as_it_arrives(tmp_path):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        info = tarfile.TarInfo("a/b.txt")
        info.size = 1
        tar.addfile(info, io.BytesIO(b"x"))
    dest = tmp_path / "d"
    dest.mkdir()
    got = receive(io.BytesIO(buf.getvalue()), str(dest))
    assert (dest / "a/b.txt").read_text() == "x"
    assert got.source_hash("a") == source_hash(str(dest), "a", None)
