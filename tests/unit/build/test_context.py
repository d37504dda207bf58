""".dockerignore rules, the context tar the client sends, and the daemon's safe unpack."""

import io
import os
import tarfile

import pytest

from wharf.build.checksum import cache_key, combined, content_hash, source_hash
from wharf.build.context import extract_context, read_dockerfile, remove_ignored_build_files, write_context
from wharf.build.dockerignore import PatternMatcher, read_patterns
from wharf.build.gomatch import BadPattern, match
from wharf.errors import InvalidParameter, NotFound


def test_read_patterns_cleans_like_docker():
    text = "# comment\n\n  /abs/path  \n./rel\n! keep\n a/../b\n"
    assert read_patterns(text) == ["abs/path", "rel", "!keep", "b"]


@pytest.mark.parametrize("patterns,path,ignored", [
    (["*.md"], "README.md", True),
    (["*.md"], "docs/x.md", False),  # * stays in one directory
    (["**/*.md"], "docs/x.md", True),
    (["**/*.md"], "x.md", True),
    (["docs"], "docs/a/b.txt", True),  # a directory excludes everything under it
    (["docs/**"], "docs/a/b.txt", True),
    (["*", "!keep.txt"], "keep.txt", False),
    (["*", "!keep.txt"], "other.txt", True),
    (["!keep.txt", "*"], "keep.txt", True),  # last match wins
    (["*.log", "!important.log", "important.log"], "important.log", True),
    (["temp?"], "temp1", True),
    (["temp?"], "temp12", False),
    (["[a-c].txt"], "b.txt", True),
    (["[^a].txt"], "a.txt", False),
    (["dir/*/x"], "dir/sub/x", True),
    (["node_modules"], "node_modules", True),
])
def test_matching(patterns, path, ignored):
    assert PatternMatcher(patterns).matches(path) is ignored


def test_bad_patterns_rejected():
    with pytest.raises(InvalidParameter, match="syntax error in pattern"):
        PatternMatcher(["[a-"])
    with pytest.raises(InvalidParameter, match='illegal exclusion pattern: "!"'):
        PatternMatcher(["!"])


@pytest.mark.parametrize("pattern,name,ok", [("*.go", "a.go", True), ("*.go", "d/a.go", False),
                                             ("d/?.go", "d/a.go", True), ("\\*", "*", True), ("[!a]", "b", False)])
def test_go_glob(pattern, name, ok):
    assert match(pattern, name) is ok


def test_go_glob_bad():
    with pytest.raises(BadPattern):
        match("a\\", "a")


@pytest.fixture
def ctx(tmp_path):
    root = tmp_path / "ctx"
    for rel, data in {"Dockerfile": "FROM x\n", "app.py": "print(1)\n", "secret.env": "K=V\n",
                      "logs/a.log": "x", "logs/keep/important.log": "y", "build/out.bin": "z",
                      "src/b.py": "b", "src/a.py": "a"}.items():
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(data)
    os.chmod(root / "app.py", 0o751)
    (root / "link").symlink_to("app.py")
    (root / ".dockerignore").write_text("*.env\nlogs\n!logs/keep\nbuild\nDockerfile\n.dockerignore\n")
    return root


def tar_of(ctx_dir, **kw):
    buf = io.BytesIO()
    name = write_context(str(ctx_dir), buf, **kw)
    buf.seek(0)
    with tarfile.open(fileobj=buf) as tar:
        return name, {m.name: m for m in tar.getmembers()}, buf.getvalue()


def test_context_tar_honours_dockerignore_and_keeps_build_files(ctx):
    name, members, _ = tar_of(ctx)
    assert name == "Dockerfile"
    assert list(members) == [".dockerignore", "Dockerfile", "app.py", "link", "logs/keep", "logs/keep/important.log",
                             "src", "src/a.py", "src/b.py"]
    assert all(m.uid == 0 and m.gid == 0 and m.uname == "" for m in members.values())
    assert members["app.py"].mode == 0o751 and members["link"].linkname == "app.py"


def test_context_tar_is_deterministic(ctx):
    assert tar_of(ctx)[2] == tar_of(ctx)[2]


def test_dockerfile_from_stdin_gets_a_random_name_listed_in_dockerignore(ctx):
    name, members, raw = tar_of(ctx, dockerfile=None, dockerfile_content=b"FROM y\n")
    assert name.startswith(".dockerfile.") and name in members
    assert "Dockerfile" not in members  # ignored, and no longer the build's Dockerfile
    with tarfile.open(fileobj=io.BytesIO(raw)) as tar:
        ignore = tar.extractfile(".dockerignore").read().decode()
    assert ignore.endswith(f"\n{name}\n")


def test_daemon_side_unpacks_reads_and_drops_ignored_build_files(ctx, tmp_path):
    _, _, raw = tar_of(ctx)
    dest = tmp_path / "unpacked"
    dest.mkdir()
    extract_context(io.BytesIO(raw), str(dest))
    assert read_dockerfile(str(dest), "Dockerfile") == "FROM x\n"
    remove_ignored_build_files(str(dest), "Dockerfile")
    assert not (dest / "Dockerfile").exists() and not (dest / ".dockerignore").exists()
    assert (dest / "logs/keep/important.log").read_text() == "y"
    with pytest.raises(NotFound, match="Cannot locate specified Dockerfile: nope"):
        read_dockerfile(str(dest), "nope")


def test_hostile_context_tar_is_refused(tmp_path):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        info = tarfile.TarInfo("../escape")
        tar.addfile(info, io.BytesIO(b""))
    buf.seek(0)
    dest = tmp_path / "d"
    dest.mkdir()
    with pytest.raises(InvalidParameter):
        extract_context(buf, str(dest))
    assert not (tmp_path / "escape").exists()


def test_dockerfile_symlinks_cannot_leave_the_context(tmp_path):
    root = tmp_path / "r"
    (root / "d").mkdir(parents=True)
    (root / "d" / "up").symlink_to("../../../../etc")
    (root / "abs").symlink_to("/etc/hostname")
    (root / "etc").mkdir()
    (root / "etc" / "hostname").write_text("FROM inside\n")
    assert read_dockerfile(str(root), "abs") == "FROM inside\n"
    assert read_dockerfile(str(root), "d/up/hostname") == "FROM inside\n"
    with pytest.raises(NotFound):
        read_dockerfile(str(root), "../../../etc/passwd")


def test_source_checksums_follow_content_not_mtime(ctx):
    before = source_hash(str(ctx), "src")
    assert before.startswith("dir:") and source_hash(str(ctx), "app.py").startswith("file:")
    os.utime(ctx / "src/a.py", (1, 1))
    assert source_hash(str(ctx), "src") == before
    (ctx / "src/a.py").write_text("changed")
    assert source_hash(str(ctx), "src") != before
    os.chmod(ctx / "app.py", 0o644)
    assert source_hash(str(ctx), "app.py") != source_hash(str(ctx), "src/b.py")


def test_combined_hashes_and_cache_keys():
    a, b = content_hash(b"a"), content_hash(b"b")
    assert combined([a]) == a and combined([a, b]).startswith("multi:") and combined([a, b]) != combined([b, a])
    key = cache_key("sha256:p", {"Cmd": ["/bin/sh", "-c", "#(nop) ", "ENV A=1"]})
    assert key == cache_key("sha256:p", {"Cmd": ["/bin/sh", "-c", "#(nop) ", "ENV A=1"]})
    assert key != cache_key("sha256:q", {"Cmd": ["/bin/sh", "-c", "#(nop) ", "ENV A=1"]})
