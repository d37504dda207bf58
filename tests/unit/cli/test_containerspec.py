"""Flags of run/create become the body docker sends for the same flags."""

from __future__ import annotations

import pytest

from wharf.cli import containerspec
from wharf.cli.commands import exec as exec_cmd
from wharf.cli.commands import run as run_cmd
from wharf.cli.errors import CommandError
from wharf.cli.flags import FlagSet


def body(*argv: str, detach: bool = False) -> dict:
    parser = FlagSet("wharf run", interspersed=False)
    run_cmd.add_arguments(parser)
    args = parser.parse_args(list(argv))
    return containerspec.build(args, detach=args.detach or detach)


def test_resources_as_docker_sends_them() -> None:
    b = body("-m", "512m", "--memory-swap", "-1", "--memory-reservation", "256m", "--cpus", "1.5",
             "--cpu-shares", "512", "--cpuset-cpus", "0", "--pids-limit", "64", "--shm-size", "64m",
             "busybox")
    hc = b["HostConfig"]
    assert hc["Memory"] == 512 * 1024 * 1024
    assert hc["MemorySwap"] == -1
    assert hc["MemoryReservation"] == 256 * 1024 * 1024
    assert hc["NanoCpus"] == 1_500_000_000
    assert (hc["CpuShares"], hc["CpusetCpus"], hc["PidsLimit"]) == (512, "0", 64)
    assert hc["ShmSize"] == 64 * 1024 * 1024


def test_policies_caps_ulimits_and_init() -> None:
    hc = body("--restart", "on-failure:3", "--cap-add", "NET_ADMIN", "--cap-drop", "ALL",
              "--ulimit", "nofile=1024:2048", "--ulimit", "nproc=10", "--init", "--privileged",
              "--read-only", "--security-opt", "no-new-privileges", "--network", "host",
              "--runtime", "runc", "--log-opt", "max-size=10m", "busybox")["HostConfig"]
    assert hc["RestartPolicy"] == {"Name": "on-failure", "MaximumRetryCount": 3}
    assert (hc["CapAdd"], hc["CapDrop"]) == (["NET_ADMIN"], ["ALL"])
    assert hc["Ulimits"] == [{"Name": "nofile", "Hard": 2048, "Soft": 1024},
                             {"Name": "nproc", "Hard": 10, "Soft": 10}]
    assert hc["Init"] is True and hc["Privileged"] and hc["ReadonlyRootfs"]
    assert hc["SecurityOpt"] == ["no-new-privileges"]
    assert (hc["NetworkMode"], hc["Runtime"]) == ("host", "runc")
    assert hc["LogConfig"]["Config"] == {"max-size": "10m"}


def test_config_fields(monkeypatch: pytest.MonkeyPatch, tmp_path: object) -> None:
    monkeypatch.setenv("FROM_HOST", "yes")
    env_file = f"{tmp_path}/env"
    with open(env_file, "w") as fh:
        fh.write("# comment\nFILE=1\n\n")
    b = body("-e", "A=1", "-e", "FROM_HOST", "--env-file", env_file, "-w", "/tmp", "-u", "1000:1000",
             "-h", "box", "--name", "x", "-l", "k=v", "--entrypoint", "", "--stop-signal", "SIGINT",
             "--stop-timeout", "3", "-it", "--rm", "busybox", "sh", "-c", "echo hi")
    assert b["Env"] == ["FILE=1", "A=1", "FROM_HOST=yes"]
    assert (b["WorkingDir"], b["User"], b["Hostname"]) == ("/tmp", "1000:1000", "box")
    assert b["Labels"] == {"k": "v"}
    assert b["Entrypoint"] == [""]
    assert (b["StopSignal"], b["StopTimeout"]) == ("SIGINT", 3)
    assert b["Cmd"] == ["sh", "-c", "echo hi"]
    assert (b["Tty"], b["OpenStdin"], b["StdinOnce"], b["AttachStdin"]) == (True, True, True, True)
    assert b["HostConfig"]["AutoRemove"] is True


def test_detached_attaches_nothing_and_defaults_match_docker() -> None:
    b = body("-d", "busybox")
    assert (b["AttachStdin"], b["AttachStdout"], b["AttachStderr"]) == (False, False, False)
    assert b["Cmd"] is None and b["Entrypoint"] is None
    assert b["HostConfig"]["RestartPolicy"] == {"Name": "no", "MaximumRetryCount": 0}
    assert b["HostConfig"]["NetworkMode"] == "default"


def test_publish_and_volumes() -> None:
    b = body("-p", "8080:80", "-p", "127.0.0.1:53:53/udp", "-v", "/host:/ctr:ro", "-v", "/data", "busybox")
    assert b["ExposedPorts"] == {"80/tcp": {}, "53/udp": {}}
    assert b["HostConfig"]["PortBindings"] == {
        "80/tcp": [{"HostIp": "", "HostPort": "8080"}], "53/udp": [{"HostIp": "127.0.0.1", "HostPort": "53"}]}
    assert b["HostConfig"]["Binds"] == ["/host:/ctr:ro"]
    assert b["Volumes"] == {"/data": {}}


@pytest.mark.parametrize("argv, message", [
    (["--rm", "--restart", "always", "busybox"], "Conflicting options: --restart and --rm"),
    (["--restart", "sometimes", "busybox"], "invalid restart policy 'sometimes'"),
    (["--restart", "on-failure:x", "busybox"], "invalid restart policy format"),
    (["--ulimit", "nofile=10:5", "busybox"], "ulimit soft limit must be less than or equal to hard limit"),
    (["-d", "-a", "stdout", "busybox"], "Conflicting options: -a and -d"),
])
def test_rejected_combinations_exit_125(argv: list[str], message: str) -> None:
    with pytest.raises(CommandError) as err:
        body(*argv)
    assert message in err.value.message
    assert err.value.status == 125


def test_exec_body() -> None:
    parser = FlagSet("wharf exec", interspersed=False)
    exec_cmd.add_arguments(parser)
    args = parser.parse_args(["-it", "-e", "X=1", "-u", "nobody", "-w", "/", "c1", "sh", "-c", "id"])
    assert exec_cmd.exec_body(args) == {
        "User": "nobody", "Privileged": False, "Tty": True, "AttachStdin": True, "AttachStdout": True,
        "AttachStderr": True, "DetachKeys": "", "Env": ["X=1"], "WorkingDir": "/", "Cmd": ["sh", "-c", "id"]}


def test_with_tag() -> None:
    assert containerspec.with_tag("busybox") == "busybox:latest"
    assert containerspec.with_tag("localhost:5000/x") == "localhost:5000/x:latest"
    assert containerspec.with_tag("x:1") == "x:1"
    assert containerspec.with_tag("x@sha256:ab") == "x@sha256:ab"
