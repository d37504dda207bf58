"""BuildKit's Dockerfile syntax through ``wharf build``: issue 20's "Must show", and the refusals.

One Dockerfile has a cache mount (its contents survive to the next build),
a secret mount (the secret is nowhere in ``wharf save``, the history, the
build cache or the daemon log), a bind mount from the context, ``RUN
--network=none`` (only lo), ``COPY --link --chmod=0755``, and a ``scratch``
stage exported with ``--output type=local,dest=DIR``.
"""

from __future__ import annotations

import hashlib
import io
import os
import subprocess
import tarfile
from pathlib import Path

import pytest
from support.daemon import BIN

from test_build import build, run, write  # noqa: F401  (shared helpers of the build tests)

SECRET = "s3cr3t-" + os.urandom(8).hex()

MUST_SHOW = """
    # syntax=docker/dockerfile:1.7
    # check=skip=all
    FROM busybox AS build
    WORKDIR /work
    RUN --mount=type=cache,target=/var/cache/app,id=app-$RUN_ID \\
        echo run >> /var/cache/app/runs && wc -l < /var/cache/app/runs > /work/cache-runs
    RUN --mount=type=secret,id=token,required \\
        test "$(sha256sum < /run/secrets/token | cut -d' ' -f1)" = $EXPECTED && stat -c %a /run/secrets/token > /work/secret-mode
    RUN --mount=type=bind,source=src,target=/src cat /src/hello.txt > /work/from-bind
    RUN --network=none ls /sys/class/net > /work/links
    COPY --link --chmod=0755 tool.sh /work/tool.sh

    FROM scratch AS out
    COPY --from=build /work/ /
"""


@pytest.fixture
def ctx(tmp_path: Path) -> Path:
    ctx = write(tmp_path / "ctx", {
        "Dockerfile": MUST_SHOW.replace("$RUN_ID", os.urandom(4).hex()).replace("$EXPECTED", hashlib.sha256(SECRET.encode()).hexdigest()),
        "src/hello.txt": "hello from the context\n",
        "tool.sh": "#!/bin/sh\necho tool\n",
    })
    (tmp_path / "token").write_text(SECRET)
    return ctx


def test_must_show(wharfd, busybox, ctx, tmp_path):
    out = tmp_path / "out"
    secret = f"id=token,src={tmp_path / 'token'}"
    iid = tmp_path / "iid"
    build(wharfd, ctx, "--secret", secret, "--output", f"type=local,dest={out}", "--iidfile", str(iid))
    assert (out / "cache-runs").read_text().strip() == "1"
    assert (out / "secret-mode").read_text().strip() == "400"
    assert (out / "from-bind").read_text() == "hello from the context\n"
    assert (out / "links").read_text().split() == ["lo"]
    assert (out / "tool.sh").stat().st_mode & 0o777 == 0o755

    # The cache mount's content survives: a build that re-runs the step sees the first run.
    out2 = tmp_path / "out2"
    build(wharfd, ctx, "--no-cache", "--secret", secret, "-o", str(out2))
    assert (out2 / "cache-runs").read_text().strip() == "2"

    # The secret is in no layer, no history, no cache file and not in the daemon's log.
    image = iid.read_text().strip()
    build_stage = tmp_path / "build-iid"
    build(wharfd, ctx, "--secret", secret, "--target", "build", "--iidfile", str(build_stage))
    saved = subprocess.run([str(BIN / "wharf"), "save", build_stage.read_text().strip(), image],
                           capture_output=True, env=wharfd.env, check=True).stdout
    assert len(saved) > 10000 and SECRET.encode() not in saved
    with tarfile.open(fileobj=io.BytesIO(saved)) as tar:
        for member in tar.getmembers():
            data = tar.extractfile(member)
            if data is not None and member.name.startswith("blobs/"):
                assert SECRET.encode() not in data.read(), member.name
    history = wharfd.wharf("history", "--no-trunc", build_stage.read_text().strip()).stdout
    assert "secret-mode" in history and SECRET not in history
    builder_dir = wharfd.data_root / "builder"
    for path in builder_dir.rglob("*"):
        if path.is_file():
            assert SECRET.encode() not in path.read_bytes(), path
    assert SECRET not in wharfd.log_path.read_text(errors="replace")


def test_missing_secret_and_bad_flags(wharfd, busybox, tmp_path):
    def fails(dockerfile: str, *args: str) -> str:
        ctx = write(tmp_path / os.urandom(3).hex(), {"Dockerfile": dockerfile})
        r = build(wharfd, ctx, *args, ok=False)
        assert r.returncode != 0
        return r.stderr

    assert "secret nope: not found" in fails("FROM busybox\nRUN --mount=type=secret,id=nope,required true\n")
    assert "unexpected key 'colour' in 'colour=red'" in fails(
        "FROM busybox\nRUN --mount=type=cache,target=/c,colour=red true\n")
    assert 'unsupported mount type "volume"' in fails("FROM busybox\nRUN --mount=type=volume,target=/c true\n")
    assert 'invalid network mode "bridge"' in fails("FROM busybox\nRUN --network=bridge true\n")
    assert "unknown flag: colour" in fails("FROM busybox\nCOPY --colour=red a /b\n")
    assert "entitlement security.insecure is not allowed" in fails(
        "FROM busybox\nRUN --security=insecure true\n")
    assert "granting entitlement security.insecure is not allowed by build daemon configuration" in fails(
        "FROM busybox\nRUN true\n", "--allow", "security.insecure")


def test_optional_secret_skipped_tmpfs_and_rw_bind_discarded(wharfd, busybox, tmp_path):
    ctx = write(tmp_path / "ctx", {
        "Dockerfile": """
            FROM busybox
            RUN --mount=type=secret,id=absent test ! -e /run/secrets/absent
            RUN --mount=type=tmpfs,target=/scratch,size=1m touch /scratch/x && \\
                grep -q ' /scratch tmpfs ' /proc/mounts
            RUN --mount=type=bind,target=/ctx,rw echo changed > /ctx/data.txt && cat /ctx/data.txt
            RUN --mount=type=bind,source=data.txt,target=/one.txt,rw echo changed > /one.txt
            RUN --mount=type=bind,target=/ctx cat /ctx/data.txt > /kept
        """,
        "data.txt": "original\n",
    })
    tar = tmp_path / "fs.tar"
    build(wharfd, ctx, "--output", f"type=tar,dest={tar}")
    with tarfile.open(tar) as t:
        names = set(t.getnames())
        assert t.extractfile("kept").read() == b"original\n"
    assert "scratch" not in names and "ctx" not in names and "one.txt" not in names and "run/secrets" not in names
    assert (ctx / "data.txt").read_text() == "original\n"


def test_builder_prune_removes_cache_mounts(wharfd, busybox, tmp_path):
    cache_id = "prune-" + os.urandom(4).hex()
    ctx = write(tmp_path / "ctx", {"Dockerfile": f"""
        FROM busybox
        RUN --mount=type=cache,id={cache_id},target=/c,uid=1234,mode=0700 \\
            stat -c '%u %a' /c > /owner && dd if=/dev/zero of=/c/blob bs=1k count=64
    """})
    build(wharfd, ctx)
    r = wharfd.wharf("builder", "prune", "-f")
    assert r.returncode == 0 and cache_id in r.stdout, r.stdout + r.stderr
    assert not any(cache_id in p.read_text() for p in (wharfd.data_root / "builder" / "mounts").glob("*/id"))


@pytest.fixture
def http_server(tmp_path):
    """A loopback HTTP server over a directory of the test's own (ADD's URL sources)."""
    import functools
    import http.server
    import threading

    root = tmp_path / "www"
    root.mkdir()
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(root))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield root, f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()
    thread.join()


def test_copy_parents_exclude_and_add_url_checksum(wharfd, busybox, tmp_path, http_server):
    www, url = http_server
    (www / "tool.tar.gz").write_bytes(b"not really a tarball\n")
    digest = "sha256:" + hashlib.sha256(b"not really a tarball\n").hexdigest()
    ctx = write(tmp_path / "ctx", {
        "Dockerfile": f"""
            FROM scratch
            COPY --parents src/a/./deep/one.txt src/b/two.txt /p/
            COPY --exclude=*.log --exclude=skip logs/ /x/
            ADD --checksum={digest} {url}/tool.tar.gz /dl/
            ADD --chmod=0644 {url}/tool.tar.gz /dl/renamed
        """,
        "src/a/deep/one.txt": "1\n", "src/b/two.txt": "2\n",
        "logs/keep.txt": "k\n", "logs/drop.log": "d\n", "logs/skip/inner.txt": "s\n",
    })
    out = tmp_path / "out"
    build(wharfd, ctx, "-o", str(out))
    assert (out / "p/deep/one.txt").read_text() == "1\n"
    assert (out / "p/src/b/two.txt").read_text() == "2\n"
    assert sorted(p.name for p in (out / "x").iterdir()) == ["keep.txt"]
    assert (out / "dl/tool.tar.gz").read_bytes() == b"not really a tarball\n"  # URLs are never unpacked
    assert (out / "dl/tool.tar.gz").stat().st_mode & 0o777 == 0o600
    assert (out / "dl/renamed").stat().st_mode & 0o777 == 0o644

    bad = write(tmp_path / "bad", {"Dockerfile": f"FROM scratch\nADD --checksum=sha256:{'0' * 64} {url}/tool.tar.gz /\n"})
    r = build(wharfd, bad, ok=False)
    assert r.returncode != 0 and "digest mismatch" in r.stderr


def test_add_git_and_checksum_refusals(wharfd, busybox, tmp_path):
    def fails(dockerfile: str) -> str:
        ctx = write(tmp_path / os.urandom(3).hex(), {"Dockerfile": dockerfile, "f": "x"})
        r = build(wharfd, ctx, ok=False)
        assert r.returncode != 0
        return r.stderr

    # A git URL nobody serves (a closed loopback port): refused with git's reason.
    err = fails("FROM scratch\nADD http://127.0.0.1:9/nothing.git /src\n")
    assert "cannot fetch git repository http://127.0.0.1:9/nothing.git" in err
    assert "unknown flag: checksum" in fails("FROM scratch\nCOPY --checksum=sha256:00 f /\n")
    assert "checksum requires HTTP(S) or Git sources" in fails("FROM scratch\nADD --checksum=sha256:00 f /\n")
    assert "source can't be a URL for COPY" in fails("FROM scratch\nCOPY http://127.0.0.1:9/x /\n")


def test_build_contexts_and_target(wharfd, busybox, tmp_path):
    extra = write(tmp_path / "extra", {"data/x.txt": "from a named context\n", ".dockerignore": "data/ignored\n",
                                        "data/ignored": "no\n"})
    ctx = write(tmp_path / "ctx", {"Dockerfile": """
        FROM base AS first
        COPY --from=extra data/ /named/
        RUN --mount=type=bind,from=extra,source=data,target=/m cat /m/x.txt > /via-mount
        FROM scratch AS unused
        COPY --from=nope / /
    """})
    out = tmp_path / "out"
    build(wharfd, ctx, "--build-context", f"extra={extra}", "--build-context", f"base=docker-image://{busybox}",
          "--target", "first", "-o", str(out))
    assert (out / "named/x.txt").read_text() == "from a named context\n"
    assert not (out / "named/ignored").exists()
    assert (out / "via-mount").read_text() == "from a named context\n"
    assert (out / "bin/busybox").exists()


def test_classic_api_client_sends_the_same_dockerfile(wharfd, busybox, tmp_path):
    """A client of the classic ``/build`` (docker-py, docker CLI with DOCKER_BUILDKIT=0) gets the
    syntax too; only secrets and ssh agents cannot come that way (not required: skipped)."""
    dockerfile = (b"# syntax=docker/dockerfile:1\nFROM busybox\n"
                  b"RUN --mount=type=cache,target=/c --mount=type=secret,id=tok --network=none "
                  b"ls /sys/class/net > /links && test ! -e /run/secrets/tok\n")
    body = io.BytesIO()
    with tarfile.open(fileobj=body, mode="w") as tar:
        info = tarfile.TarInfo("Dockerfile")
        info.size = len(dockerfile)
        tar.addfile(info, io.BytesIO(dockerfile))
    status, answer = wharfd.api("POST", "/build", body.getvalue(), params={"t": "wharf-test-api-bk:latest"})
    assert status == 200, answer
    assert b"errorDetail" not in answer and b"Successfully tagged" in answer, answer
    assert run(wharfd, "wharf-test-api-bk", "cat", "/links").split() == ["lo"]
    wharfd.wharf("rmi", "wharf-test-api-bk")


def test_add_git_over_loopback_http_with_commit_checksum(wharfd, busybox, tmp_path, http_server):
    www, url = http_server
    work = tmp_path / "work"
    work.mkdir()
    git = lambda *a, cwd=work: subprocess.run(["git", *a], cwd=cwd, check=True, capture_output=True,  # noqa: E731
                                              text=True).stdout.strip()
    git("init", "-q", "-b", "main")
    (work / "README").write_text("from git\n")
    git("add", "README")
    git("-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "-m", "one")
    commit = git("rev-parse", "HEAD")
    git("clone", "-q", "--bare", str(work), str(www / "repo.git"))
    git("update-server-info", cwd=www / "repo.git")  # served as git's "dumb" HTTP protocol
    ctx = write(tmp_path / "ctx", {"Dockerfile": f"""
        FROM scratch
        ADD --checksum={commit[:12]} {url}/repo.git#main /src/
    """})
    out = tmp_path / "out"
    build(wharfd, ctx, "-o", str(out))
    assert (out / "src/README").read_text() == "from git\n"
    assert not (out / "src/.git").exists()
    bad = write(tmp_path / "bad", {"Dockerfile": f"FROM scratch\nADD --checksum={'0' * 40} {url}/repo.git /src/\n"})
    r = build(wharfd, bad, ok=False)
    assert r.returncode != 0 and f"expected checksum to match {'0' * 40}, got {commit}" in r.stderr


def test_ssh_agent_socket_and_cache_subdirectory(wharfd, busybox, tmp_path):
    import socket

    agent = tmp_path / "agent.sock"
    listener = socket.socket(socket.AF_UNIX)
    listener.bind(str(agent))
    ctx = write(tmp_path / "ctx", {"Dockerfile": """
        FROM busybox
        RUN --mount=type=ssh test -S "$SSH_AUTH_SOCK" && echo "$SSH_AUTH_SOCK" > /agent-path
        RUN --mount=type=cache,target=/c,source=sub,id=subdir-test touch /c/made-in-sub
        RUN --mount=type=cache,target=/c,id=subdir-test test -f /c/sub/made-in-sub
        RUN --mount=type=ssh,id=other,required true
    """})
    try:
        r = build(wharfd, ctx, "--ssh", f"default={agent}", ok=False)
    finally:
        listener.close()
    assert r.returncode != 0 and 'no SSH key "other" forwarded from the client' in r.stderr
    assert "Step 5/5" in r.stdout and r.stdout.count("Removing intermediate container") >= 3, r.stdout
    missing = build(wharfd, ctx, "--ssh", "default", ok=False)  # the test has no SSH_AUTH_SOCK ...
    if not os.environ.get("SSH_AUTH_SOCK"):
        assert "invalid empty ssh agent socket: make sure SSH_AUTH_SOCK is set" in missing.stderr


def test_bind_mounts_key_the_cache_by_what_they_show(wharfd, busybox, tmp_path):
    """A RUN whose bind mount shows other content runs again: an image name that now names
    another image, a named context or a context file that changed."""
    dep = write(tmp_path / "dep", {"Dockerfile": "FROM busybox\nCOPY x /x\n", "x": "one\n"})
    extra = write(tmp_path / "extra", {"y": "one\n"})
    tag = f"wharf-test-bind-{os.urandom(3).hex()}:latest"
    ctx = write(tmp_path / "ctx", {"Dockerfile": f"""
        FROM busybox
        RUN --mount=type=bind,from={tag},source=/x,target=/m cat /m > /from-image
        RUN --mount=type=bind,from=extra,target=/m cat /m/y > /from-dir
        RUN --mount=type=bind,source=z,target=/m cat /m > /from-context
    """, "z": "one\n"})

    def again(cached: int) -> list[str]:
        out = tmp_path / f"out-{os.urandom(3).hex()}"
        r = build(wharfd, ctx, "--build-context", f"extra={extra}", "-o", str(out))
        assert r.stdout.count("Using cache") == cached, r.stdout
        return [(out / name).read_text().strip() for name in ("from-image", "from-dir", "from-context")]

    try:
        build(wharfd, dep, "-t", tag)
        assert again(0) == ["one", "one", "one"]
        assert again(3) == ["one", "one", "one"]
        (dep / "x").write_text("two\n")
        build(wharfd, dep, "-t", tag)
        assert again(0) == ["two", "one", "one"]
        (extra / "y").write_text("two\n")
        assert again(1) == ["two", "two", "one"]
        (ctx / "z").write_text("two\n")
        assert again(2) == ["two", "two", "two"]
    finally:
        wharfd.wharf("rmi", "-f", tag)
