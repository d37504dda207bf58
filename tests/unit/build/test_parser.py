"""The Dockerfile syntax layer: what Docker makes of the text, line by line."""

import pytest

from wharf.build.instructions import parse_dockerfile
from wharf.build.parser import ParseError, parse


def nodes(text):
    return [(n.cmd, n.args, n.json) for n in parse(text).nodes]


def test_comments_blank_lines_and_case_insensitive_instructions():
    assert nodes("# c\n\nfrom busybox\n  # indented comment\nRuN echo hi # not a comment\n") == [
        ("from", ["busybox"], False),
        ("run", ["echo hi # not a comment"], False),
    ]


def test_continuation_skips_comment_and_empty_lines_and_warns():
    ast = parse("FROM x\nRUN echo a \\\n# inner comment\n\n  b\n")
    assert ast.nodes[1].args == ["echo a   b"]
    assert (ast.nodes[1].line, ast.nodes[1].end_line) == (2, 5)
    assert "Empty continuation line" in ast.warnings[0]


def test_escaped_escape_is_not_a_continuation():
    ast = parse("FROM x\nRUN echo \\\\\nRUN two\n")
    assert [n.args for n in ast.nodes[1:]] == [["echo \\\\"], ["two"]]


def test_escape_directive_switches_to_backtick():
    ast = parse("# escape=`\nFROM x\nRUN dir c:\\ `\n  /b\n")
    assert ast.escape == "`"
    assert ast.nodes[1].args == ["dir c:\\   /b"]


@pytest.mark.parametrize("text,escape", [
    ("# Escape = `\nFROM x\n", "`"),  # directive names are case-insensitive
    ("# syntax=docker/dockerfile:1\n# escape=`\nFROM x\n", "`"),
    ("\n# escape=`\nFROM x\n", "\\"),  # after a blank line it is a comment
    ("# comment\n# escape=`\nFROM x\n", "\\"),  # after a comment too
    ("FROM x\n# escape=`\n", "\\"),  # and after an instruction
    ("# unknown=1\n# escape=`\nFROM x\n", "\\"),
])
def test_directives_only_at_the_top(text, escape):
    assert parse(text).escape == escape


def test_directive_errors():
    with pytest.raises(ParseError, match="only one escape parser directive can be used"):
        parse("# escape=`\n# escape=\\\nFROM x\n")
    with pytest.raises(ParseError, match="invalid escape token"):
        parse("# escape=x\nFROM x\n")


def test_syntax_directive_is_accepted():
    assert parse("# syntax=docker/dockerfile:1.4\nFROM x\n").syntax == "docker/dockerfile:1.4"


@pytest.mark.parametrize("line,args,is_json", [
    ('CMD ["echo", "hi"]', ["echo", "hi"], True),
    ("CMD echo hi", ["echo hi"], False),
    ('CMD ["echo", "hi"', ['["echo", "hi"'], False),  # malformed JSON: shell form
    ("CMD [echo hi]", ["[echo hi]"], False),
    ('ENTRYPOINT []', [], True),
    ('COPY ["a b", "/c"]', ["a b", "/c"], True),
    ("COPY a  b   /c", ["a", "b", "/c"], False),
    ("VOLUME /a /b", ["/a", "/b"], False),
    ('ENV A="x y" B=z', ["A", '"x y"', "B", "z"], False),
    ("ENV A x y", ["A", "x y"], False),
    ("LABEL a=b\\ c", ["a", "b\\ c"], False),
    ("ARG A B=1", ["A", "B=1"], False),
    ("HEALTHCHECK CMD curl x", ["CMD", "curl x"], False),
    ('HEALTHCHECK CMD ["curl", "x"]', ["CMD", "curl", "x"], True),
])
def test_argument_forms(line, args, is_json):
    node = parse("FROM x\n" + line + "\n").nodes[1]
    assert (node.args, node.json) == (args, is_json)


def test_json_with_non_strings_is_an_error_with_its_line():
    with pytest.raises(ParseError) as e:
        parse("FROM x\n\nCMD [1, 2]\n")
    assert e.value.line == 3
    assert str(e.value) == ("dockerfile parse error on line 3: "
                            "when using JSON array syntax, arrays must be comprised of strings only")


def test_flags_are_split_from_arguments():
    node = parse("FROM x\nCOPY --from=build --chown='1:1' a b\n").nodes[1]
    assert node.flags == ["--from=build", "--chown=1:1"]
    assert node.args == ["a", "b"]


def test_env_without_equals_needs_two_words():
    with pytest.raises(ParseError, match="ENV must have two arguments"):
        parse("FROM x\nENV A\n")
    with pytest.raises(ParseError, match="can't find = in \"c\""):
        parse("FROM x\nENV a=b c\n")


def test_heredoc_run_and_copy():
    text = "FROM x\nRUN <<EOF\necho $A\nEOF\nCOPY <<one <<'two' /dst/\n1\none\n$B\ntwo\nRUN ok\n"
    ast = parse(text)
    run, copy, last = ast.nodes[1:]
    assert [(d.name, d.content, d.expand) for d in run.heredocs] == [("EOF", "echo $A\n", True)]
    assert [(d.name, d.content, d.expand) for d in copy.heredocs] == [("one", "1\n", True), ("two", "$B\n", False)]
    assert (copy.line, copy.end_line) == (5, 9)
    assert last.line == 10 and last.args == ["ok"]


def test_heredoc_dash_strips_tabs_and_fd():
    node = parse("FROM x\nRUN 3<<-EOT cat\n\t\tindented\n\tEOT\n").nodes[1]
    doc = node.heredocs[0]
    assert (doc.name, doc.chomp, doc.fd, doc.body) == ("EOT", True, 3, "indented\n")


def test_heredoc_not_in_exec_form_or_other_instructions():
    assert parse('FROM x\nRUN ["cat", "<<EOF"]\n').nodes[1].heredocs == []
    assert parse("FROM x\nENV A=<<EOF\n").nodes[1].heredocs == []


def test_unterminated_heredoc():
    with pytest.raises(ParseError, match="unterminated heredoc"):
        parse("FROM x\nRUN <<EOF\necho\n")


def test_empty_file():
    with pytest.raises(ParseError, match="file with no instructions"):
        parse("# only a comment\n\n")


def test_crlf_and_bom():
    ast = parse("\ufeffFROM x\r\nRUN a \\\r\n b\r\n")
    assert [n.args for n in ast.nodes] == [["x"], ["a  b"]]


def test_located_error_form():
    with pytest.raises(ParseError) as e:
        parse_dockerfile("FROM x\n\n\n\n\n\nRNU make\n")
    assert e.value.located() == "Dockerfile:7: unknown instruction: RNU (did you mean RUN?)"
