"""Instruction validation and stages, with Docker's error wording and line numbers."""

import pytest

from wharf.build.instructions import parse_dockerfile
from wharf.build.parser import ParseError

MULTI_STAGE = """\
ARG GO=1.21
FROM golang:${GO} AS Build
WORKDIR /src
COPY --from=0 --chown=1:1 a b
FROM --platform=linux/amd64 busybox
COPY --from=build /out /bin/app
"""


def test_stages_meta_args_and_flags():
    df = parse_dockerfile(MULTI_STAGE)
    assert [a.args for a in df.meta_args] == [["GO=1.21"]]
    build, final = df.stages
    assert (build.base, build.name, build.index, build.line) == ("golang:${GO}", "build", 0, 2)
    assert (final.name, final.platform) == ("", "linux/amd64")
    assert build.instructions[1].flags == {"from": "0", "chown": "1:1"}
    assert df.stage("BUILD") is build and df.stage("1") is final and df.stage("nope") is None


@pytest.mark.parametrize("text,line,message", [
    ("FROM x\nRNU a\n", 2, "unknown instruction: RNU (did you mean RUN?)"),
    ("RUN a\n", 1, "no build stage in current context"),
    ("FROM a b\n", 1, "FROM requires either one or three arguments"),
    ("FROM a AS 1x\n", 1, 'invalid name for build stage: "1x", name can\'t start with a number or contain symbols'),
    ("FROM a AS x\nFROM b AS X\n", 2, 'duplicate stage name "x"'),
    ("FROM x\nCOPY a\n", 2, "COPY requires at least two arguments, but only one was provided. Destination could not be determined"),
    ("FROM x\nCOPY a <<EOF\nEOF\n", 2, "COPY cannot accept a heredoc as a destination"),
    ("FROM x\nCOPY --form=a b c\n", 2, "unknown flag: form (did you mean from?)"),
    ("FROM x\nCOPY --from a b\n", 2, "missing a value on flag: from"),
    ("FROM x\nCOPY --from=a --from=b c d\n", 2, "duplicate flag specified: from"),
    ("FROM x\nADD --from=a b c\n", 2, "unknown flag: from"),
    ("FROM x\nWORKDIR\n", 2, "WORKDIR requires exactly one argument"),
    ("FROM x\nUSER\n", 2, "USER requires exactly one argument"),
    ("FROM x\nEXPOSE\n", 2, "EXPOSE requires at least one argument"),
    ("FROM x\nENV =x\n", 2, "ENV names can not be blank"),
    ("FROM x\nARG =x\n", 2, "ARG names can not be blank"),
    ("FROM x\nSHELL /bin/bash -c\n", 2, "SHELL requires the arguments to be in JSON form"),
    ("FROM x\nONBUILD ONBUILD RUN x\n", 2, "Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed"),
    ("FROM x\nONBUILD FROM y\n", 2, "FROM isn't allowed as an ONBUILD trigger"),
    ("FROM x\nONBUILD MAINTAINER me\n", 2, "MAINTAINER isn't allowed as an ONBUILD trigger"),
    ("FROM x\nHEALTHCHECK NONE x\n", 2, "HEALTHCHECK NONE takes no arguments"),
    ("FROM x\nHEALTHCHECK RUN x\n", 2, 'Unknown type "RUN" in HEALTHCHECK (try CMD)'),
    ("FROM x\nHEALTHCHECK CMD\n", 2, "Missing command after HEALTHCHECK CMD"),
    ("FROM x\nHEALTHCHECK --interval=0s CMD x\n", 2, 'Interval "interval" cannot be less than 1ms'),
    ("FROM x\nHEALTHCHECK --timeout=3 CMD x\n", 2, 'time: missing unit in duration "3"'),
    ("FROM x\nHEALTHCHECK --retries=0 CMD x\n", 2, "--retries must be at least 1 (not 0)"),
    ("FROM x\nVOLUME [\"\"]\n", 2, "VOLUME specified can not be an empty string"),
    ("FROM x\nRUN --mount=type=cache,target=/c,colour=red make\n", 2, "unexpected key 'colour' in 'colour=red'"),
    ("ARG A\n", 1, "No image was generated"),
])
def test_errors(text, line, message):
    with pytest.raises(Exception) as e:
        parse_dockerfile(text)
    assert message in e.value.message
    if isinstance(e.value, ParseError):
        assert e.value.line == line
        assert str(e.value).startswith(f"dockerfile parse error on line {line}: ")


def test_healthcheck_config_in_nanoseconds():
    df = parse_dockerfile("FROM x\nHEALTHCHECK --interval=1m30s --timeout=500ms --start-period=2s --retries=3 "
                          "CMD curl -f http://localhost/ || exit 1\nHEALTHCHECK NONE\n")
    full, none = df.stages[0].instructions
    assert full.health == {"Test": ["CMD-SHELL", "curl -f http://localhost/ || exit 1"], "Interval": 90_000_000_000,
                           "Timeout": 500_000_000, "StartPeriod": 2_000_000_000, "Retries": 3}
    assert none.health == {"Test": ["NONE"]}


def test_onbuild_trigger_text_and_heredoc():
    df = parse_dockerfile("FROM x\nonbuild  COPY . /app\nONBUILD RUN <<EOF\necho hi\nEOF\n")
    a, b = df.stages[0].instructions
    assert a.trigger == "COPY . /app"
    assert b.trigger == "RUN <<EOF\necho hi\nEOF"


def test_expose_sorted_and_copy_sources():
    df = parse_dockerfile("FROM x\nEXPOSE 8080 443 80/udp\nCOPY a <<EOF b /d/\nhello\nEOF\n")
    expose, copy = df.stages[0].instructions
    assert expose.args == ["443", "80/udp", "8080"]
    paths, inline, dest = copy.sources_and_dest()
    assert (paths, [d.body for d in inline], dest) == (["a", "b"], ["hello\n"], "/d/")


def test_command_line_forms():
    df = parse_dockerfile('FROM x\nRUN echo  a \nCMD ["a", "b"]\n')
    run, cmd = df.stages[0].instructions
    assert run.command_line() == ["echo  a"]
    assert cmd.command_line() == ["a", "b"]
