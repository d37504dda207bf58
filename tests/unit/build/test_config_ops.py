"""Config-only instructions produce the image config Docker's classic builder would."""

import pytest

from wharf.build import durations
from wharf.build.config_ops import (DEFAULT_PATH, ImageState, apply, begin_stage, comment, exposed_ports, nop_cmd,
                                    normalize_workdir, parse_triggers, validate_signal)
from wharf.build.instructions import parse_dockerfile
from wharf.errors import InvalidParameter


def build(text, base=None):
    state, triggers = begin_stage(base)
    comments = []
    for instr in parse_dockerfile("FROM x\n" + text).stages[0].instructions:
        state = apply(state, instr)
        comments.append(comment(state, instr))
    return state, comments


def test_new_stage_gets_default_path_and_drops_triggers():
    state, triggers = begin_stage({"Env": ["A=1"], "OnBuild": ["RUN x"], "OpenStdin": True})
    assert state.config["Env"] == ["A=1", "PATH=" + DEFAULT_PATH]
    assert state.config["OnBuild"] is None and state.config["OpenStdin"] is False
    assert triggers == ["RUN x"]
    assert begin_stage({"Env": ["PATH=/x"]})[0].config["Env"] == ["PATH=/x"]


def test_base_config_is_not_mutated():
    base = {"Env": ["A=1"], "Labels": {"a": "1"}}
    build("ENV A=2\nLABEL a=2\n", base)
    assert base == {"Env": ["A=1"], "Labels": {"a": "1"}}


def test_entrypoint_clears_inherited_cmd_but_not_one_set_in_the_stage():
    inherited, _ = build('ENTRYPOINT ["/app"]\n', {"Cmd": ["sh"]})
    assert inherited.config["Entrypoint"] == ["/app"] and inherited.config["Cmd"] is None
    kept, _ = build('CMD ["--help"]\nENTRYPOINT ["/app"]\n', {"Cmd": ["sh"]})
    assert kept.config["Cmd"] == ["--help"]
    later, _ = build('ENTRYPOINT ["/app"]\nCMD ["-v"]\n', {"Cmd": ["sh"]})
    assert later.config["Cmd"] == ["-v"]


def test_shell_form_uses_shell_instruction():
    state, comments = build('CMD echo one\nSHELL ["/bin/bash", "-xc"]\nENTRYPOINT exec app\n')
    assert state.config["Cmd"] == ["/bin/sh", "-c", "echo one"]
    assert state.config["Entrypoint"] == ["/bin/bash", "-xc", "exec app"]
    assert comments == ['CMD ["/bin/sh" "-c" "echo one"]', "SHELL [/bin/bash -xc]",
                        'ENTRYPOINT ["/bin/bash" "-xc" "exec app"]']


def test_empty_exec_entrypoint_clears_it():
    state, _ = build("ENTRYPOINT []\n", {"Entrypoint": ["/old"]})
    assert state.config["Entrypoint"] is None


@pytest.mark.parametrize("current,requested,expected", [
    ("", "/a", "/a"), ("", "a", "/a"), ("/a", "b", "/a/b"), ("/a", "/b", "/b"),
    ("/a/b", "../c", "/a/c"), ("/a", "b/../../..", "/"), ("/", "//x/./y/", "/x/y"),
])
def test_workdir_relative_to_previous(current, requested, expected):
    assert normalize_workdir(current, requested) == expected


def test_env_both_syntaxes_replace_in_place():
    state, comments = build('ENV A=1 B="two words"\nENV A 3 4\n', {"Env": ["PATH=/bin"]})
    assert state.config["Env"] == ["PATH=/bin", "A=3 4", 'B="two words"']
    assert comments[1] == "ENV A=3 4"


def test_labels_expose_volume_user_stopsignal():
    state, comments = build('LABEL a=1 "b c"=2\nEXPOSE 80 53/UDP 8000-8001/tcp\nVOLUME ["/data", "/logs"]\n'
                            "VOLUME /more\nUSER app:app\nSTOPSIGNAL SIGQUIT\nMAINTAINER me@x\n")
    c = state.config
    assert c["Labels"] == {"a": "1", '"b c"': "2"}  # quotes go at expansion, not here
    assert c["ExposedPorts"] == {"80/tcp": {}, "53/udp": {}, "8000/tcp": {}, "8001/tcp": {}}
    assert c["Volumes"] == {"/data": {}, "/logs": {}, "/more": {}}
    assert (c["User"], c["StopSignal"], state.author) == ("app:app", "SIGQUIT", "me@x")
    assert comments[2] == "VOLUME [/data /logs]"


@pytest.mark.parametrize("spec,error", [("80/xtp", "invalid proto: xtp"), ("abc", "Invalid containerPort: abc"),
                                        ("90-80", "Invalid containerPort: 90-80"), ("70000", "Invalid containerPort")])
def test_bad_ports(spec, error):
    with pytest.raises(InvalidParameter, match=error):
        exposed_ports([spec])


@pytest.mark.parametrize("sig,ok", [("SIGTERM", True), ("term", True), ("9", True), ("0", False),
                                    ("SIGRTMIN+3", True), ("NOPE", False)])
def test_stop_signal_validation(sig, ok):
    if ok:
        validate_signal(sig)
    else:
        with pytest.raises(InvalidParameter, match="Invalid signal"):
            validate_signal(sig)


def test_healthcheck_and_its_history_text():
    state, comments = build("HEALTHCHECK --interval=5m --timeout=3s CMD curl -f http://localhost/ || exit 1\n")
    assert state.config["Healthcheck"] == {"Test": ["CMD-SHELL", "curl -f http://localhost/ || exit 1"],
                                           "Interval": 300_000_000_000, "Timeout": 3_000_000_000}
    assert comments == ['HEALTHCHECK &{["CMD-SHELL" "curl -f http://localhost/ || exit 1"] "5m0s" "3s" "0s" \'\\x00\'}']
    none, _ = build("HEALTHCHECK NONE\n", {"Healthcheck": {"Test": ["CMD", "x"]}})
    assert none.config["Healthcheck"] == {"Test": ["NONE"]}


def test_onbuild_stored_then_triggered_in_child():
    parent, comments = build("ONBUILD COPY . /app\nONBUILD RUN make\n")
    assert parent.config["OnBuild"] == ["COPY . /app", "RUN make"]
    assert comments[0] == "ONBUILD COPY . /app"
    child, triggers = begin_stage(parent.config)
    assert child.config["OnBuild"] is None
    assert [(t.name, t.args) for t in parse_triggers(triggers)] == [("copy", [".", "/app"]), ("run", ["make"])]
    with pytest.raises(InvalidParameter, match="FROM isn't allowed as an ONBUILD trigger"):
        parse_triggers(["FROM evil"])


def test_nop_cmd_is_docker_history_form():
    assert " ".join(nop_cmd({}, "ENV A=1")) == "/bin/sh -c #(nop)  ENV A=1"


def test_non_config_instructions_leave_state():
    state = ImageState({"Cmd": ["x"]})
    run = parse_dockerfile("FROM x\nRUN make\n").stages[0].instructions[0]
    assert apply(state, run) is state


@pytest.mark.parametrize("text,ns", [("0", 0), ("1h30m", 5_400_000_000_000), ("1.5s", 1_500_000_000),
                                     ("300ms", 300_000_000), ("2us", 2000), ("-1m", -60_000_000_000)])
def test_go_durations(text, ns):
    assert durations.parse(text) == ns


@pytest.mark.parametrize("ns,text", [(0, "0s"), (90_000_000_000, "1m30s"), (3_600_000_000_000, "1h0m0s"),
                                     (1_500_000_000, "1.5s"), (300_000_000, "300ms")])
def test_go_duration_strings(ns, text):
    assert durations.format(ns) == text
