"""``wharf build`` end to end: realistic Dockerfiles build, and their images run as meant."""

from __future__ import annotations

import json
import os
import textwrap
from pathlib import Path
from typing import Any

import pytest


def write(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).lstrip("\n"))
    return root


def build(d: Any, ctx: Path, *args: str, ok: bool = True) -> Any:
    r = d.wharf("build", *args, str(ctx))
    if ok:
        assert r.returncode == 0, r.stdout + r.stderr
    return r


def config(d: Any, ref: str) -> dict[str, Any]:
    return json.loads(d.wharf("image", "inspect", ref).stdout)[0]["Config"]


def run(d: Any, *args: str) -> str:
    r = d.wharf("run", "--rm", *args)
    assert r.returncode == 0, r.stderr
    return r.stdout


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
            COPY --from=builder /src/out.txt /opt/app/
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
