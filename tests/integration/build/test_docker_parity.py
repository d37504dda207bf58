"""The image config wharf's builder makes equals the one Docker's classic builder makes.

Both engines get the same busybox tar imported the same way, build the same
Dockerfiles, and the config fields a Dockerfile sets are compared. Docker
runs as a private dockerd (``bench/engines.py``); the test is skipped where
dockerd is not installed or cannot start.
"""

from __future__ import annotations

import json
import shutil
import sys
import textwrap
from pathlib import Path
from typing import Any, Iterator

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "bench"))
import engines  # noqa: E402

FIELDS = ("Cmd", "Entrypoint", "Env", "WorkingDir", "User", "ExposedPorts", "Volumes", "Labels",
          "Healthcheck", "StopSignal", "OnBuild")

DOCKERFILES = {
    "multistage": """
        ARG BASE=busybox
        FROM $BASE AS build
        ARG VERSION=1.2
        ENV APP_VERSION=$VERSION SRC=/src
        WORKDIR $SRC
        COPY app.txt ./
        RUN cp app.txt /built.txt
        FROM ${BASE}
        LABEL org.opencontainers.image.version="1.2" maintainer="ops <ops@example.com>"
        COPY --from=build /built.txt /opt/app/
        WORKDIR /opt
        WORKDIR app
        USER nobody:nogroup
        EXPOSE 8080 53/udp 9000-9002
        VOLUME ["/data", "/cache"]
        ENTRYPOINT ["/bin/cat"]
        CMD ["built.txt"]
    """,
    "shell_forms": """
        FROM busybox
        SHELL ["/bin/sh", "-e", "-c"]
        ENV A=1 \\
            B="two words"
        ENV C ${A}-${B:-x}-${UNSET:-default}
        CMD echo $A
        ENTRYPOINT exec "$0" "$@"
        STOPSIGNAL SIGINT
        HEALTHCHECK --interval=5s --timeout=3s --start-period=1s --retries=4 CMD wget -q -O- localhost || exit 1
    """,
    "cmd_kept_after_entrypoint": """
        FROM busybox
        CMD ["one"]
        ENTRYPOINT ["two"]
        MAINTAINER someone
        ONBUILD RUN echo child
        ONBUILD COPY . /app
        HEALTHCHECK NONE
    """,
    "inherited_cmd_dropped": """
        FROM busybox
        ENTRYPOINT ["/bin/echo"]
        ARG USERNAME=nobody
        USER $USERNAME
        LABEL a=b
        LABEL a=c d=e
    """,
    "expansions": """
        FROM busybox
        ARG PORT=8000
        ARG DIR=/var/lib/app
        ENV PORT=$PORT HOME_DIR=${DIR} SIG=SIGTERM
        EXPOSE $PORT ${PORT}/udp
        VOLUME $HOME_DIR ["/logs"]
        WORKDIR $HOME_DIR/work
        USER ${UID:-1000}:${GID:-1000}
        STOPSIGNAL $SIG
        LABEL port=$PORT "quoted key"='single $PORT' empty=
        SHELL ["/bin/sh", "-xc"]
        CMD echo $PORT
        ENTRYPOINT []
    """,
    "onbuild_child": """
        FROM wharf-test-parity-parent:1
        ENV CHILD=1
    """,
}


@pytest.fixture(scope="module")
def docker() -> Iterator[engines.Engine]:
    if not shutil.which("dockerd"):
        pytest.skip("dockerd is not installed")
    try:
        with engines.docker() as eng:
            if eng.run("version", check=False).returncode != 0:
                pytest.skip("dockerd did not start")
            yield eng
    except RuntimeError as e:
        pytest.skip(f"dockerd cannot be used here: {e}")


@pytest.fixture(scope="module")
def wharf(make_wharfd, tmp_path_factory) -> Any:
    d = make_wharfd(with_busybox=False)
    tar = tmp_path_factory.mktemp("busybox") / "busybox.tar"
    engines.busybox_tar(tar)
    r = d.wharf("import", "-c", 'CMD ["sh"]', str(tar), "busybox:latest")
    assert r.returncode == 0, r.stderr
    return d


def _config(run: Any, tag: str) -> dict[str, Any]:
    config = json.loads(run("image", "inspect", tag).stdout)[0]["Config"]
    return {k: config.get(k) or None for k in FIELDS}


#: Dockerfile -> the image it builds FROM, built first by each engine (ONBUILD triggers)
PARENTS = {"onbuild_child": ("wharf-test-parity-parent:1", "cmd_kept_after_entrypoint")}


def _build_both(docker: Any, wharf: Any, directory: Path, tag: str, dockerfile: str) -> None:
    (directory / "Dockerfile").write_text(textwrap.dedent(DOCKERFILES[dockerfile]).lstrip())
    (directory / "app.txt").write_text("app\n")
    docker.env["DOCKER_BUILDKIT"] = "0"
    docker.run("build", "-t", tag, str(directory))
    r = wharf.wharf("build", "-t", tag, str(directory))
    assert r.returncode == 0, r.stdout + r.stderr


@pytest.mark.parametrize("name", sorted(DOCKERFILES))
def test_same_config_as_docker_classic_builder(name, docker, wharf, tmp_path):
    tags = [f"wharf-test-parity-{name}:1"]
    if name in PARENTS:
        parent_tag, parent = PARENTS[name]
        (tmp_path / "parent").mkdir()
        _build_both(docker, wharf, tmp_path / "parent", parent_tag, parent)
        tags.append(parent_tag)
    _build_both(docker, wharf, tmp_path, tags[0], name)
    try:
        ours, theirs = _config(wharf.wharf, tags[0]), _config(lambda *a: docker.run(*a), tags[0])
        assert ours["Cmd"] or ours["Entrypoint"] or ours["Labels"] or ours["Env"]  # the build set something
        assert ours == theirs
    finally:
        for tag in tags:
            docker.run("rmi", "-f", tag, check=False)
            wharf.wharf("rmi", "-f", tag)
