"""Which instructions Docker substitutes, and ARG scoping and precedence."""

from wharf.build.expand import (BuildArgs, declare_meta_args, expand, expand_from, expand_heredoc,
                                run_history_cmd, step_env)
from wharf.build.instructions import parse_dockerfile


def stage_steps(text, options=None, env=None):
    """Expand every instruction of the first stage as the builder would, declaring ARGs."""
    df = parse_dockerfile(text)
    args = BuildArgs(options or {})
    declare_meta_args(df.meta_args, args, df.escape)
    base = expand_from(df.stages[0], args, df.escape)
    stage_args = args.for_stage()
    out = []
    for instr in df.stages[0].instructions:
        done = expand(instr, step_env(env or [], stage_args), df.escape)
        if done.name == "arg":
            for key, value in done.arg_definitions():
                stage_args.declare(key, value)
        out.append(done)
    return base, out, stage_args


def test_meta_args_only_in_from_unless_redeclared():
    base, steps, _ = stage_steps("ARG V=1.0\nFROM img:$V\nLABEL before=$V\nARG V\nLABEL after=$V\n")
    assert base == ("img:1.0", "")
    assert steps[0].args == ["before", ""]
    assert steps[2].args == ["after", "1.0"]


def test_build_arg_overrides_default_and_env_overrides_arg():
    _, steps, _ = stage_steps("FROM x\nARG A=default\nARG B=b\nENV C=$A\nWORKDIR /$B\n",
                              options={"A": "given"}, env=["B=from-env"])
    assert steps[2].args == ["C", "given"]
    assert steps[3].args == ["/from-env"]


def test_meta_args_see_earlier_meta_args_and_options():
    base, _, _ = stage_steps("ARG REG=r.io\nARG IMG=$REG/app\nFROM $IMG\n", options={"REG": "local"})
    assert base == ("local/app", "")


def test_instructions_docker_does_not_expand():
    _, steps, _ = stage_steps('FROM x\nENV A=1\nRUN echo $A\nCMD ["$A"]\nENTRYPOINT $A\nHEALTHCHECK CMD $A\n'
                              "ONBUILD RUN $A\nSHELL [\"$A\"]\n", env=["A=1"])
    run, cmd, entrypoint, health, onbuild, shell = steps[1:]
    assert [run.args, cmd.args, entrypoint.args, health.args, shell.args] == [
        ["echo $A"], ["$A"], ["$A"], ["CMD", "$A"], ["$A"]]
    assert onbuild.trigger == "RUN $A"


def test_expanded_instructions():
    _, steps, _ = stage_steps('FROM x\nENV "K$A"="v $A" B=${A:-no}\nLABEL l=$A\nCOPY --chown=$U:$U src/$A /d$A/\n'
                              "USER $U\nVOLUME /v/$A\nSTOPSIGNAL $SIG\nEXPOSE $PORTS\n",
                              env=["A=1", "U=app", "SIG=SIGTERM", "PORTS=80 443/udp"])
    env, label, copy, user, volume, sig, expose = steps
    assert env.args == ["K1", "v 1", "B", "1"]
    assert label.args == ["l", "1"]
    assert copy.args == ["src/1", "/d1/"] and copy.flags == {"chown": "app:app"}
    assert (user.args, volume.args, sig.args) == (["app"], ["/v/1"], ["SIGTERM"])
    assert expose.args == ["80", "443/udp"]  # the one instruction where a word may become several


def test_escaped_dollar_stays_literal_with_either_escape():
    _, steps, _ = stage_steps("FROM x\nENV A=\\$HOME\n", env=["HOME=/root"])
    assert steps[0].args == ["A", "$HOME"]
    _, steps, _ = stage_steps("# escape=`\nFROM x\nENV A=`$HOME B=c:\\x\n", env=["HOME=/root"])
    assert steps[0].args == ["A", "$HOME", "B", "c:\\x"]


def test_predefined_proxy_args_usable_but_hidden_from_history():
    _, steps, args = stage_steps("FROM x\nARG A=1\nENV P=$http_proxy\n", options={"http_proxy": "http://p:3128"})
    assert steps[1].args == ["P", "http://p:3128"]
    assert run_history_cmd(["/bin/sh", "-c", "make"], args, []) == ["|1", "A=1", "/bin/sh", "-c", "make"]
    assert args.unused_warning() is None


def test_unused_build_args_warning():
    _, _, args = stage_steps("FROM x\nARG USED\n", options={"USED": "1", "EXTRA": "2", "MORE": "3"})
    assert args.unused_warning() == "[Warning] One or more build-args [EXTRA MORE] were not consumed"


def test_heredoc_body_expansion_respects_quoting_of_the_delimiter():
    df = parse_dockerfile("FROM x\nCOPY <<A <<'B' /d/\nit's $X\nA\nnot $X\nB\n")
    _, inline, _ = df.stages[0].instructions[0].sources_and_dest()
    assert [expand_heredoc(d, {"X": "1"}) for d in inline] == ["it's 1\n", "not $X\n"]
