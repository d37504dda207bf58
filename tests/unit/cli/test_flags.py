"""The command-line grammar: docker's flag forms, errors and exit codes."""

from __future__ import annotations

import pytest

from wharf.cli import main
from wharf.cli.flags import REMAINDER, FlagSet, HelpRequested, UsageError


def _runlike() -> FlagSet:
    parser = FlagSet("wharf run", "Create and run a new container from an image", interspersed=False)
    parser.add_argument("-d", "--detach", action="store_true")
    parser.add_argument("-i", "--interactive", action="store_true")
    parser.add_argument("-t", "--tty", action="store_true")
    parser.add_argument("-e", "--env", action="append")
    parser.add_argument("-h", "--hostname", default="")
    parser.add_argument("--rm", action="store_true")
    parser.add_argument("--stop-timeout", type=int)
    parser.add_argument("image")
    parser.add_argument("command", nargs=REMAINDER)
    return parser


def test_combined_shorts_values_and_command_after_image() -> None:
    args = _runlike().parse_args(["-it", "-eA=1", "-e", "B=2", "--hostname=box", "busybox", "ls", "-l", "-d"])
    assert (args.interactive, args.tty, args.detach) == (True, True, False)
    assert args.env == ["A=1", "B=2"]
    assert args.hostname == "box"
    assert (args.image, args.command) == ("busybox", ["ls", "-l", "-d"])


def test_h_is_hostname_for_run_but_help_elsewhere() -> None:
    assert _runlike().parse_args(["-h", "x", "img"]).hostname == "x"
    ps = FlagSet("wharf ps")
    ps.add_argument("-a", "--all", action="store_true")
    with pytest.raises(HelpRequested):
        ps.parse_args(["-h"])


def test_bool_flags_take_explicit_values() -> None:
    assert _runlike().parse_args(["--rm=false", "img"]).rm is False
    with pytest.raises(UsageError) as err:
        _runlike().parse_args(["--rm=maybe", "img"])
    assert 'invalid argument "maybe" for "--rm" flag' in err.value.message


@pytest.mark.parametrize("argv, message", [
    (["--bogus", "img"], "unknown flag: --bogus"),
    (["-x", "img"], "unknown shorthand flag: 'x' in -x"),
    (["img", "--stop-timeout"], None),  # after the image: the command's own argument
    (["--stop-timeout"], "flag needs an argument: --stop-timeout"),
    (["--stop-timeout", "soon", "img"],
     'invalid argument "soon" for "--stop-timeout" flag: strconv.ParseInt: parsing "soon": invalid syntax'),
])
def test_flag_errors_are_docker_worded_and_exit_125(argv: list[str], message: str | None) -> None:
    if message is None:
        assert _runlike().parse_args(argv).command == ["--stop-timeout"]
        return
    with pytest.raises(UsageError) as err:
        _runlike().parse_args(argv)
    assert err.value.message == message
    assert err.value.status == 125


def test_argument_counts() -> None:
    rename = FlagSet("wharf rename")
    rename.add_argument("container")
    rename.add_argument("new_name")
    with pytest.raises(UsageError) as err:
        rename.parse_args(["a"])
    assert err.value.message == '"wharf rename" requires exactly 2 arguments.'
    assert err.value.status == 1
    ps = FlagSet("wharf ps")
    with pytest.raises(UsageError) as err:
        ps.parse_args(["x"])
    assert err.value.message == '"wharf ps" accepts no arguments.'


def test_usage_error_text_and_exit_code(capsys: pytest.CaptureFixture[str]) -> None:
    assert main.main(["stop"]) == 1
    err = capsys.readouterr().err
    assert err.startswith('"wharf stop" requires at least 1 argument.\nSee \'wharf stop --help\'.\n')
    assert "Usage:  wharf stop [OPTIONS] CONTAINER [CONTAINER...]" in err


def test_memory_flag_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main.main(["run", "--memory", "abc", "busybox"]) == 125
    assert capsys.readouterr().err.startswith(
        'invalid argument "abc" for "-m, --memory" flag: invalid size: \'abc\'\n')


def test_help_layout(capsys: pytest.CaptureFixture[str]) -> None:
    assert main.main(["ps", "--help"]) == 0
    out = capsys.readouterr().out
    assert "Usage:  wharf ps [OPTIONS]\n\nList containers\n" in out
    assert "  -a, --all             Show all containers (default shows just running)" in out
    assert "  -n, --last int        Show n last created containers" in out


def test_management_forms_resolve() -> None:
    assert main.resolve(["container", "ls", "-a"])[1:] == ("ps", {}, ["-a"])
    assert main.resolve(["image", "rm", "x"])[1] == "rmi"
    assert main.resolve(["container", "inspect", "c"])[2] == {"type": "container"}


def test_unknown_command(capsys: pytest.CaptureFixture[str]) -> None:
    assert main.main(["frobnicate"]) == 1
    assert "'frobnicate' is not a wharf command" in capsys.readouterr().err


def test_no_daemon_message(capsys: pytest.CaptureFixture[str], tmp_path: object) -> None:
    assert main.main(["-H", f"unix://{tmp_path}/none.sock", "ps"]) == 1
    assert capsys.readouterr().err == (
        f"Cannot connect to the Docker daemon at unix://{tmp_path}/none.sock. Is the docker daemon running?\n")


def test_every_command_module_has_help() -> None:
    for name, (module, _) in {**main.COMMANDS, **main.HIDDEN}.items():
        try:
            __import__(f"wharf.cli.commands.{module}")
        except ModuleNotFoundError:
            continue  # the image commands land separately
        assert main.main([*name.split(), "--help"]) == 0, name


def test_deprecated_net_is_a_hidden_alias_of_network() -> None:
    """docker still takes ``run --net=host`` (hidden, deprecated) for ``--network``."""
    parser = FlagSet("wharf run", interspersed=False)
    parser.add_argument("--network", "--net", dest="network", default="default")
    parser.add_argument("image")
    assert parser.parse_args(["--net=host", "busybox"]).network == "host"
    assert parser.parse_args(["--net", "none", "busybox"]).network == "none"
    assert "--net " not in parser.format_help()
