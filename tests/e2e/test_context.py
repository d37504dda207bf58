"""``wharf context`` and ``docker context`` share one store (a private DOCKER_CONFIG):
what one makes or chooses the other sees, and wharf connects through the chosen one."""

from __future__ import annotations

import json
import os
import subprocess

import pytest

from support.daemon import BIN, DOCKER

pytestmark = pytest.mark.root


@pytest.fixture
def cli(tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in ("DOCKER_HOST", "DOCKER_CONTEXT")}
    env["DOCKER_CONFIG"] = str(tmp_path / "docker-config")

    def run(binary: str, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([binary, *args], capture_output=True, text=True, env=env,
                              timeout=60)
    run.config = tmp_path / "docker-config"
    return run


def test_one_store_for_both_clis(cli, wharfd):
    wharf = str(BIN / "wharf")
    r = cli(wharf, "context", "create", "dev", "--description", "test daemon", "--docker",
            f"host={wharfd.host}")
    assert (r.returncode, r.stdout, r.stderr) == (0, "dev\n", 'Successfully created context "dev"\n')
    assert "already exists" in cli(wharf, "context", "create", "dev", "--docker", "host=x").stderr
    assert "reserved" in cli(wharf, "context", "create", "default").stderr
    r = cli(DOCKER, "context", "create", "other", "--docker", "host=unix:///nowhere.sock")
    assert r.returncode == 0, r.stderr
    # docker sees wharf's context, wharf sees docker's
    r = cli(DOCKER, "context", "inspect", "dev")
    assert r.returncode == 0, r.stderr
    meta = json.loads(r.stdout)[0]
    assert meta["Endpoints"]["docker"]["Host"] == wharfd.host
    assert meta["Metadata"]["Description"] == "test daemon"
    rows = cli(wharf, "context", "ls", "--format", "{{.Name}} {{.Current}} {{.DockerEndpoint}}")
    assert rows.stdout.splitlines() == ["default true unix:///run/wharf/wharf.sock",
                                       f"dev false {wharfd.host}",
                                       "other false unix:///nowhere.sock"]
    # wharf's use is docker's current context, and wharf talks through it
    assert cli(wharf, "context", "use", "dev").stdout == "dev\n"
    assert json.loads((cli.config / "config.json").read_text())["currentContext"] == "dev"
    assert "dev *" in cli(DOCKER, "context", "ls").stdout
    r = cli(wharf, "info", "--format", "{{.DockerRootDir}}")
    assert r.stdout.strip() == str(wharfd.data_root), r.stderr
    assert cli(wharf, "--context", "other", "ps").returncode != 0  # nothing listens there
    # docker's use is seen by wharf; the context in use is kept unless forced
    assert cli(DOCKER, "context", "use", "other").returncode == 0
    assert cli(wharf, "context", "inspect", "--format", "{{.Name}}").stdout == "other\n"
    r = cli(wharf, "context", "rm", "other")
    assert r.returncode == 1 and 'context "other" is in use, set -f flag to force remove' in r.stderr
    assert cli(wharf, "context", "rm", "-f", "other").stdout == "other\n"
    assert cli(DOCKER, "context", "show").stdout.strip() == "default"
    assert cli(wharf, "context", "rm", "dev").returncode == 0
    assert cli(DOCKER, "context", "ls", "-q").stdout.split() == ["default"]
