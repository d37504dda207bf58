"""The real docker CLI's classic builder (``DOCKER_BUILDKIT=0 docker build``) against wharfd."""

from __future__ import annotations

import json
import subprocess
import textwrap

from support.daemon import DOCKER


def docker_build(d, *args: str, input: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([DOCKER, "build", *args], input=input, text=True, capture_output=True,
                          timeout=120, env={**d.env, "DOCKER_BUILDKIT": "0"})


def test_docker_build_against_wharfd(wharfd, busybox, tmp_path):
    (tmp_path / "Dockerfile").write_text(textwrap.dedent("""
        FROM busybox
        ARG WHO
        COPY greeting.txt /srv/
        RUN echo "hello $WHO" >> /srv/greeting.txt && echo building for $WHO
        WORKDIR /srv
        CMD ["cat", "greeting.txt"]
    """).lstrip())
    (tmp_path / "greeting.txt").write_text("from the context\n")
    tag = "wharf-test-dockercli:1"
    try:
        r = docker_build(wharfd, "-t", tag, "--build-arg", "WHO=docker", "--label", "via=docker", str(tmp_path))
        assert r.returncode == 0, r.stdout + r.stderr
        # --label adds a LABEL step at the end, as in Docker
        assert "Step 4/7 : RUN echo" in r.stdout and "building for docker" in r.stdout
        assert f"Successfully tagged {tag}" in r.stdout
        run = wharfd.docker("run", "--rm", tag)
        assert run.stdout == "from the context\nhello docker\n"
        labels = json.loads(wharfd.docker("image", "inspect", tag).stdout)[0]["Config"]["Labels"]
        assert labels == {"via": "docker"}
        again = docker_build(wharfd, "-t", tag, "--build-arg", "WHO=docker", "--label", "via=docker", str(tmp_path))
        assert again.stdout.count("Using cache") == 6, again.stdout
    finally:
        wharfd.docker("rmi", tag)


def test_docker_build_failure_and_stdin_dockerfile(wharfd, busybox, tmp_path):
    r = docker_build(wharfd, "-f", "-", str(tmp_path), input="FROM busybox\nRUN exit 7\n")
    assert r.returncode == 7
    assert "The command '/bin/sh -c exit 7' returned a non-zero code: 7" in r.stderr
    r = docker_build(wharfd, "-f", "-", str(tmp_path), input="FROM busybox\nBOGUS x\n")
    assert r.returncode == 1
    assert "dockerfile parse error on line 2: unknown instruction: BOGUS" in r.stderr


def test_plain_docker_build_picks_the_classic_builder(wharfd, busybox, tmp_path):
    """wharfd's _ping says Builder-Version 1, so the CLI needs no DOCKER_BUILDKIT=0."""
    (tmp_path / "Dockerfile").write_text("FROM busybox\nRUN echo plain\n")
    r = wharfd.docker("build", "-q", str(tmp_path))
    assert r.returncode == 0, r.stderr
    image_id = r.stdout.strip()
    assert image_id.startswith("sha256:")
    wharfd.docker("rmi", image_id)


def test_run_stderr_is_shown_red(wharfd, busybox, tmp_path):
    """dockerd wraps what a RUN step writes to stderr in red (``ESC[91m``...``ESC[0m``); stdout is plain."""
    r = docker_build(wharfd, "--no-cache", "-f", "-", str(tmp_path),
                     input="FROM busybox\nRUN echo to-out && echo to-err >&2\n")
    assert r.returncode == 0, r.stderr
    assert "\x1b[91mto-err\n\x1b[0m" in r.stdout
    assert "to-out\n" in r.stdout and "\x1b[91mto-out" not in r.stdout
    wharfd.docker("image", "prune", "-f")


def test_cache_from_limits_the_cache_to_those_images(wharfd, busybox, tmp_path):
    """With --cache-from, only those images' chains are reused: an unknown one means no cache."""
    dockerfile = "FROM busybox\nENV CACHE_FROM=1\nRUN touch /baz\n"
    try:
        assert docker_build(wharfd, "-t", "wharf-test-cachefrom:1", "-f", "-", str(tmp_path),
                            input=dockerfile).returncode == 0
        hit = docker_build(wharfd, "--cache-from", "wharf-test-cachefrom:1", "-f", "-", str(tmp_path),
                           input=dockerfile)
        assert hit.returncode == 0 and hit.stdout.count("Using cache") == 2, hit.stdout
        miss = docker_build(wharfd, "-t", "wharf-test-cachefrom:2", "--cache-from", "wharf-test-nosuchtag",
                            "-f", "-", str(tmp_path), input=dockerfile)
        assert miss.returncode == 0 and "Using cache" not in miss.stdout, miss.stdout
        plain = docker_build(wharfd, "-f", "-", str(tmp_path), input=dockerfile)
        assert plain.stdout.count("Using cache") == 2, plain.stdout
    finally:
        wharfd.docker("rmi", "wharf-test-cachefrom:1", "wharf-test-cachefrom:2")
        wharfd.docker("image", "prune", "-f")


def test_add_host_reaches_run_steps(wharfd, busybox, tmp_path):
    """``--add-host`` entries are in each RUN step's /etc/hosts, not in the image's."""
    tag = "wharf-test-addhost:1"
    try:
        r = docker_build(wharfd, "-t", tag, "--add-host", "extrahost.test:127.0.0.1", "-f", "-", str(tmp_path),
                         input="FROM busybox\nRUN ping -c1 extrahost.test\nRUN cp /etc/hosts /hosts-file\n")
        assert r.returncode == 0, r.stdout + r.stderr
        run = wharfd.docker("run", "--rm", tag, "cat", "/hosts-file", "/etc/hosts")
        assert run.stdout.count("127.0.0.1\textrahost.test") == 1, run.stdout
    finally:
        wharfd.docker("rmi", tag)
        wharfd.docker("image", "prune", "-f")


def test_buildkit_syntax_through_the_classic_api(wharfd, busybox, tmp_path):
    """docker's classic builder only sends the Dockerfile: wharfd runs BuildKit's syntax in it
    (secrets cannot come through that API: a secret mount that is not required is skipped)."""
    (tmp_path / "Dockerfile").write_text(textwrap.dedent("""
        # syntax=docker/dockerfile:1
        FROM busybox
        RUN --mount=type=cache,target=/c --mount=type=bind,source=in.txt,target=/in.txt \\
            --mount=type=secret,id=token --network=none \\
            cp /in.txt /copied && ls /sys/class/net > /links && test ! -e /run/secrets/token
        COPY --chmod=0700 --link in.txt /private.txt
    """).lstrip())
    (tmp_path / "in.txt").write_text("bound\n")
    tag = "wharf-test-dockercli-bk:1"
    try:
        r = docker_build(wharfd, "-t", tag, str(tmp_path))
        assert r.returncode == 0, r.stdout + r.stderr
        out = wharfd.docker("run", "--rm", tag, "sh", "-c", "cat /copied /links; stat -c %a /private.txt").stdout
        assert out == "bound\nlo\n700\n"
    finally:
        wharfd.docker("rmi", tag)
