"""``wharf build`` end to end: realistic Dockerfiles build, and their images run as meant."""

from __future__ import annotations

import json
import os
import textwrap
from pathlib import Path
from typing import Any

import pytest

from support.commands import ok


def write(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).lstrip("\n"))
    return root


def build(d: Any, ctx: Path, *args: str, ok: bool = True, input: str | None = None) -> Any:
    r = d.wharf("build", *args, str(ctx), input=input)
    if ok:
        assert r.returncode == 0, r.stdout + r.stderr
    return r


def config(d: Any, ref: str) -> dict[str, Any]:
    return json.loads(d.wharf("image", "inspect", ref).stdout)[0]["Config"]


def run(d: Any, *args: str) -> str:
    return ok(d.wharf("run", "--rm", *args))


@pytest.fixture
def tagger(wharfd, request):
    tags: list[str] = []

    def make(name: str) -> str:
        tag = f"wharf-test-{name}-{os.urandom(3).hex()}:latest"
        tags.append(tag)
        return tag
    yield make
    for tag in tags:
        wharfd.wharf("rmi", "-f", tag)


def test_multistage_heredoc_user_workdir_entrypoint(wharfd, busybox, tmp_path, tagger):
    ctx = write(tmp_path, {
        "Dockerfile": """
            ARG BASE=busybox
            FROM $BASE AS builder
            ARG GREETING=hello
            ENV WHO=world
            WORKDIR /src
            COPY app.txt ./
            RUN <<EOF
            set -e
            echo "$GREETING $WHO" > /src/out.txt
            cat app.txt >> /src/out.txt
            EOF

            FROM ${BASE}
            ARG FROM_STAGE=builder
            COPY --from=${FROM_STAGE} /src/out.txt /opt/app/
            COPY <<EOF /opt/app/motd
            built for $HOSTNAME_IS_UNSET-x
            EOF
            RUN echo "appuser:x:1234:1234::/home/appuser:/bin/sh" >> /etc/passwd
            USER appuser
            WORKDIR /opt/app
            ENTRYPOINT ["cat"]
            CMD ["out.txt"]
        """,
        "app.txt": "from the context\n",
    })
    tag = tagger("multi")
    r = build(wharfd, ctx, "-t", tag, "--build-arg", "GREETING=hi")
    assert "Step 1/" in r.stdout and "Successfully tagged " + tag.split(":")[0] in r.stdout
    assert run(wharfd, tag) == "hi world\nfrom the context\n"
    assert run(wharfd, "--entrypoint", "id", tag, "-u").strip() == "1234"
    assert run(wharfd, tag, "motd") == "built for -x\n"
    c = config(wharfd, tag)
    assert (c["User"], c["WorkingDir"], c["Entrypoint"], c["Cmd"]) == ("appuser", "/opt/app", ["cat"], ["out.txt"])


def test_dockerignore_exceptions_and_add_tar(wharfd, busybox, tmp_path, tagger):
    import tarfile
    ctx = write(tmp_path / "ctx", {
        "Dockerfile": """
            FROM busybox
            COPY . /ctx/
            ADD bundle.tar.gz /unpacked/
            COPY --chown=7:8 --chmod=600 logs/keep.log /owned
            CMD find /ctx /unpacked | sort
        """,
        ".dockerignore": "logs\n!logs/keep.log\n**/*.tmp\nsecret.txt\n",
        "logs/drop.log": "no\n", "logs/keep.log": "yes\n", "a/b/c.tmp": "no\n",
        "a/b/d.txt": "yes\n", "secret.txt": "no\n",
    })
    payload = tmp_path / "payload"
    write(payload, {"inner/file.txt": "unpacked\n"})
    with tarfile.open(ctx / "bundle.tar.gz", "w:gz") as tar:
        tar.add(payload / "inner", arcname="inner")
    tag = tagger("ignore")
    build(wharfd, ctx, "-t", tag)
    listing = run(wharfd, tag).split()
    assert "/ctx/logs/keep.log" in listing and "/ctx/a/b/d.txt" in listing
    assert not [p for p in listing if p.endswith((".tmp", "drop.log", "secret.txt"))]
    assert "/unpacked/inner/file.txt" in listing
    assert run(wharfd, tag, "stat", "-c", "%u:%g %a", "/owned").strip() == "7:8 600"


def test_onbuild_parent_child_and_healthcheck(wharfd, busybox, tmp_path, tagger):
    parent = tagger("parent")
    build(wharfd, write(tmp_path / "p", {"Dockerfile": f"""
        FROM busybox
        ONBUILD COPY marker.txt /from-child.txt
        ONBUILD RUN echo triggered > /triggered
        HEALTHCHECK --interval=1s --timeout=2s --retries=2 CMD test -e /tmp/ok
        CMD ["sleep", "60"]
    """}), "-t", parent)
    assert config(wharfd, parent)["OnBuild"] == ["COPY marker.txt /from-child.txt",
                                                 "RUN echo triggered > /triggered"]
    child = tagger("child")
    r = build(wharfd, write(tmp_path / "c", {"Dockerfile": f"FROM {parent}\n", "marker.txt": "child\n"}),
              "-t", child)
    assert "# Executing 2 build triggers" in r.stdout
    assert config(wharfd, child)["OnBuild"] is None
    assert run(wharfd, child, "cat", "/from-child.txt", "/triggered") == "child\ntriggered\n"

    cid = wharfd.wharf("run", "-d", child).stdout.strip()
    try:
        def health() -> dict:
            return json.loads(wharfd.wharf("inspect", cid).stdout)[0]["State"]["Health"]
        assert health()["Status"] == "starting"
        assert "(health: starting)" in wharfd.wharf("ps", "--filter", f"id={cid}").stdout
        _until(lambda: health()["Status"] == "unhealthy")
        assert "(unhealthy)" in wharfd.wharf("ps", "--filter", f"id={cid}").stdout
        wharfd.wharf("exec", cid, "touch", "/tmp/ok")
        _until(lambda: health()["Status"] == "healthy")
        assert health()["Log"][-1]["ExitCode"] == 0
    finally:
        wharfd.wharf("rm", "-f", cid)


def _until(check, timeout: float = 15) -> None:
    import time
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "condition not reached"
        time.sleep(0.2)


def test_cache_hits_and_rebuild_from_changed_file(wharfd, busybox, tmp_path, tagger):
    ctx = write(tmp_path, {
        "Dockerfile": """
            FROM busybox
            RUN echo one > /one
            COPY a.txt /a.txt
            RUN echo two > /two
            COPY b.txt /b.txt
            CMD cat /a.txt /b.txt
        """,
        "a.txt": "a\n", "b.txt": "b\n",
    })
    tag = tagger("cache")
    first = build(wharfd, ctx, "-t", tag, "--no-cache")
    assert "Using cache" not in first.stdout
    second = build(wharfd, ctx, "-t", tag)
    assert second.stdout.count("Using cache") == 5
    assert second.stdout.split("Successfully built ")[1][:12] == first.stdout.split("Successfully built ")[1][:12]
    (ctx / "b.txt").write_text("B\n")
    third = build(wharfd, ctx, "-t", tag)
    assert third.stdout.count("Using cache") == 3  # the RUNs and a.txt; b.txt's step and CMD rebuilt
    assert "Step 5/6 : COPY b.txt /b.txt\n ---> Using cache" not in third.stdout
    assert run(wharfd, tag) == "a\nB\n"
    os.utime(ctx / "a.txt", (0, 0))  # a new mtime alone is no change
    assert build(wharfd, ctx, "-t", tag).stdout.count("Using cache") == 5


def test_cache_from_add_host_and_red_stderr(wharfd, busybox, tmp_path, tagger):
    """``--cache-from`` limits the cache to those images' chains, ``--add-host`` reaches RUN
    steps' /etc/hosts, and a step's stderr comes wrapped in red, as docker build shows it."""
    ctx = write(tmp_path, {"Dockerfile": """
        FROM busybox
        ENV WHARF_CACHE_FROM=1
        RUN grep -q "10.1.2.3.builder.test" /etc/hosts && echo warned >&2
    """})
    tag = tagger("cachefrom")
    first = build(wharfd, ctx, "-t", tag, "--add-host", "builder.test:10.1.2.3")
    assert "\x1b[91mwarned\n\x1b[0m" in first.stdout
    assert build(wharfd, ctx, "--cache-from", tag, "--add-host", "builder.test:10.1.2.3").stdout.count("Using cache") == 2
    assert "Using cache" not in build(wharfd, ctx, "--cache-from", "wharf-test-nosuchtag",
                                      "--add-host", "builder.test:10.1.2.3").stdout


def test_cache_survives_restart_and_builder_prune(make_wharfd, tmp_path):
    d = make_wharfd()
    ctx = write(tmp_path, {"Dockerfile": "FROM busybox\nRUN echo x > /x\n"})
    build(d, ctx, "-t", "cached")
    d.restart()
    assert "Using cache" in build(d, ctx, "-t", "cached").stdout
    r = d.wharf("builder", "prune", "-f")
    assert r.returncode == 0 and "Total reclaimed space" in r.stdout
    assert "Using cache" not in build(d, ctx, "-t", "cached").stdout


def test_errors_a_user_can_act_on(wharfd, busybox, tmp_path, tagger):
    def fails(dockerfile: str, *files: str) -> Any:
        ctx = tmp_path / os.urandom(3).hex()
        write(ctx, {"Dockerfile": dockerfile, **{f: "x" for f in files}})
        tag = tagger("err")
        r = build(wharfd, ctx, "-t", tag, ok=False)
        assert r.returncode != 0
        assert wharfd.wharf("image", "inspect", tag).returncode != 0  # nothing tagged
        return r

    r = fails("FROM busybox\nRUN true\nRNU false\n")
    assert "dockerfile parse error on line 3: unknown instruction: RNU (did you mean RUN?)" in r.stderr
    r = fails("FROM busybox\nENV\n")
    assert "line 2" in r.stderr and "ENV requires at least one argument" in r.stderr
    r = fails("FROM busybox\nCOPY missing.txt /x\n")
    assert "missing.txt" in r.stderr and "file does not exist" in r.stderr
    before = set(wharfd.wharf("ps", "-aq", "--no-trunc").stdout.split())
    r = fails("FROM busybox\nRUN echo about to fail; exit 3\n")
    assert r.returncode == 3
    assert "The command '/bin/sh -c echo about to fail; exit 3' returned a non-zero code: 3" in r.stderr
    assert "about to fail" in r.stdout
    assert set(wharfd.wharf("ps", "-aq", "--no-trunc").stdout.split()) <= before
    r = fails("FROM busybox\nADD http://example.invalid/x.tar /x\n")
    assert "http://example.invalid/x.tar" in r.stderr


def test_options_target_label_quiet_iidfile_stdin(wharfd, busybox, tmp_path, tagger):
    ctx = write(tmp_path / "ctx", {"x.txt": "x\n"})
    dockerfile = textwrap.dedent("""
        FROM busybox AS unused
        RUN exit 1
        FROM busybox AS base
        ARG V=default
        RUN echo $V > /v
        FROM base AS final
        COPY x.txt /
    """)
    (tmp_path / "outside.Dockerfile").write_text(dockerfile)
    tag = tagger("opts")
    r = build(wharfd, ctx, "-f", "-", "--network", "none", "-t", tag, input="FROM busybox\nRUN ls /sys/class/net > /nets\n")
    assert r.stdout.startswith("Sending build context to Docker daemon  ")
    assert run(wharfd, tag, "cat", "/nets") == "lo\n"
    iid = tmp_path / "iid"
    r = build(wharfd, ctx, "-f", str(tmp_path / "outside.Dockerfile"), "--target", "base", "-t", tag,
              "--label", "com.example.k=v", "--build-arg", "V=given", "-q", "--iidfile", str(iid))
    assert r.stdout.strip() == iid.read_text() and r.stdout.startswith("sha256:")
    assert run(wharfd, tag, "cat", "/v") == "given\n"
    assert config(wharfd, tag)["Labels"] == {"com.example.k": "v"}
    r = wharfd.wharf("build", "-f", "-", "-t", tag, str(ctx), input=dockerfile)
    assert r.returncode == 0, r.stderr
    assert run(wharfd, tag, "cat", "/x.txt", "/v") == "x\ndefault\n"


def test_scratch_image_from_another_image(wharfd, busybox, tmp_path, tagger):
    ctx = write(tmp_path, {"Dockerfile": """
        FROM scratch
        COPY --from=busybox /bin/busybox /bin/busybox
        ENTRYPOINT ["/bin/busybox"]
        CMD ["echo", "scratch ok"]
    """})
    tag = tagger("scratch")
    r = build(wharfd, ctx, "-t", tag)
    assert "Step 1/4 : FROM scratch" in r.stdout
    assert run(wharfd, tag) == "scratch ok\n"
    assert json.loads(wharfd.wharf("image", "inspect", tag).stdout)[0]["RootFS"]["Layers"].__len__() == 1
