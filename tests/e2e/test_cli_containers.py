"""The wharf CLI against a live wharfd: run/ps/logs/exec/stop/rm and docker's exit codes."""

from __future__ import annotations

import secrets
import time

import pytest


def _name() -> str:
    return f"wharf-test-{secrets.token_hex(3)}"


def test_run_prints_output_and_exits_with_the_container_code(wharfd, busybox) -> None:
    r = wharfd.wharf("run", "--rm", busybox, "sh", "-c", "echo out; echo err >&2; exit 3")
    assert r.returncode == 3, r.stderr
    assert r.stdout == "out\n"
    assert r.stderr == "err\n"


def test_run_stdin_with_i(wharfd, busybox) -> None:
    r = wharfd.wharf("run", "--rm", "-i", busybox, "tr", "a-z", "A-Z", input="hello\n")
    assert (r.returncode, r.stdout) == (0, "HELLO\n"), r.stderr


@pytest.mark.parametrize("command, code", [("nosuchcommand", 127), ("/etc", 126)])
def test_run_command_not_found_or_not_executable(wharfd, busybox, command, code) -> None:
    name = _name()
    r = wharfd.wharf("run", "--rm", "--name", name, busybox, command)
    assert r.returncode == code, r.stderr
    assert r.stderr.startswith("wharf: Error response from daemon:")
    # --rm: removed before the answer, as by Docker (not left Created until a restart)
    assert wharfd.wharf("ps", "-aq", "--filter", f"name={name}").stdout == ""


def test_run_missing_image_exits_125(wharfd) -> None:
    r = wharfd.wharf("run", "--rm", "wharf-test-no-such-image")
    assert r.returncode == 125
    assert "Unable to find image 'wharf-test-no-such-image:latest' locally" in r.stderr


def test_detached_lifecycle_ps_logs_exec_stop_rm(wharfd, busybox) -> None:
    name = _name()
    r = wharfd.wharf("run", "-d", "--name", name, busybox, "sh", "-c", "echo started; sleep 300")
    assert r.returncode == 0, r.stderr
    cid = r.stdout.strip()
    assert len(cid) == 64
    try:
        ps = wharfd.wharf("ps")
        header, *rows = ps.stdout.splitlines()
        assert header.startswith("CONTAINER ID   IMAGE")
        row = next(line for line in rows if line.endswith(name))
        assert row.startswith(cid[:12]) and '"sh -c \'echo started…"' in row and "Up " in row
        assert wharfd.wharf("ps", "-q", "--no-trunc").stdout.split().count(cid) == 1
        fmt = wharfd.wharf("ps", "--filter", f"name={name}", "--format", "{{.Names}} {{.State}}")
        assert fmt.stdout == f"{name} running\n"

        deadline = time.monotonic() + 10
        while "started" not in (logs := wharfd.wharf("logs", name)).stdout and time.monotonic() < deadline:
            time.sleep(0.1)
        assert logs.stdout == "started\n"

        ex = wharfd.wharf("exec", name, "sh", "-c", "echo in-$HOSTNAME; exit 4")
        assert ex.returncode == 4 and ex.stdout.startswith("in-"), ex.stderr
        assert wharfd.wharf("exec", "-i", name, "cat", input="piped\n").stdout == "piped\n"
        assert wharfd.wharf("inspect", "-f", "{{.State.Running}} {{.Name}}", name).stdout == f"true /{name}\n"

        stop = wharfd.wharf("stop", "-t", "1", name)
        assert (stop.returncode, stop.stdout) == (0, f"{name}\n"), stop.stderr
        assert wharfd.wharf("inspect", "-f", "{{.State.Running}}", name).stdout == "false\n"
        assert name not in wharfd.wharf("ps").stdout
        assert name in wharfd.wharf("ps", "-a").stdout
    finally:
        rm = wharfd.wharf("rm", "-f", name)
    assert (rm.returncode, rm.stdout) == (0, f"{name}\n"), rm.stderr
    assert name not in wharfd.wharf("ps", "-a").stdout


def test_errors_for_missing_containers(wharfd) -> None:
    r = wharfd.wharf("rm", "wharf-test-nope")
    assert r.returncode == 1
    assert r.stderr == "Error response from daemon: No such container: wharf-test-nope\n"
    r = wharfd.wharf("inspect", "wharf-test-nope")
    assert (r.returncode, r.stdout.strip()) == (1, "[]")
    assert "Error: No such object: wharf-test-nope" in r.stderr


def test_bad_flag_value(wharfd, busybox) -> None:
    r = wharfd.wharf("run", "--memory", "abc", busybox)
    assert r.returncode == 125
    assert r.stderr.startswith('invalid argument "abc" for "-m, --memory" flag: invalid size: \'abc\'')


def test_version_and_info(wharfd) -> None:
    r = wharfd.wharf("version", "--format", "{{.Server.ApiVersion}} {{.Server.Version}}")
    assert (r.returncode, r.stdout) == (0, "1.43 24.0.9\n"), r.stderr
    info = wharfd.wharf("info")
    assert info.returncode == 0 and "Containers:" in info.stdout
