"""Docker's builder variable substitution, table-driven from buildkit's documented cases."""

import pytest

from wharf.build.shell_lex import ExpansionError, Lexer

ENV = {"PWD": "/home", "SHELL": "bash", "KOREAN": "한국어", "NULL": ""}


@pytest.mark.parametrize("source,expected", [
    ("hello", "hello"),
    ("he'll'o", "hello"),
    ('he"ll"o', "hello"),
    ("$PWD", "/home"),
    ("${PWD}", "/home"),
    ("${PWD}x", "/homex"),
    ("\\$PWD", "$PWD"),
    ("'$PWD'", "$PWD"),
    ('"$PWD"', "/home"),
    ('"\\$PWD"', "$PWD"),
    ("$UNSET", ""),
    ("${UNSET:-default}", "default"),
    ("${NULL:-default}", "default"),
    ("${NULL-default}", ""),
    ("${UNSET-default}", "default"),
    ("${PWD:+set}", "set"),
    ("${NULL:+set}", ""),
    ("${NULL+set}", "set"),
    ("${UNSET+set}", ""),
    ("${UNSET:-$PWD/x}", "/home/x"),
    ("$KOREAN", "한국어"),
    ("a$", "a$"),
    ("$ x", "$ x"),
    ('"a\\b"', "a\\b"),
    ("a\\ b", "a b"),
    ("${PWD#/h}", "ome"),
    ("${PWD%me}", "/ho"),
    ("${PWD/o/0}", "/h0me"),
])
def test_word_expansion(source, expected):
    assert Lexer().word(source, ENV) == expected


@pytest.mark.parametrize("source,expected", [
    ("${FOO:-aaa} ${BAR:-bbb} ${BAZ:-ccc}", "xxx bbb ccc"),
    ("${FOO-aaa} ${BAR-bbb} ${BAZ-ccc}", "xxx  ccc"),
    ("${FOO+aaa} ${BAR+bbb} ${BAZ+ccc}", "aaa bbb "),
    ("${FOO:+aaa} ${BAR:+bbb} ${BAZ:+ccc}", "aaa  "),
    ("${FOO?aaa}", "xxx"),
    ("${BAR?bbb}", ""),
])
def test_modifiers_distinguish_unset_from_empty(source, expected):
    assert Lexer().word(source, {"FOO": "xxx", "BAR": ""}) == expected


@pytest.mark.parametrize("source,message", [
    ("${BAZ?ccc}", "BAZ: ccc"),
    ("${BAR:?bbb}", "BAR: bbb"),
    ("${BAZ:?}", "BAZ: is not allowed to be unset"),
    ("${BAR:?}", "BAR: is not allowed to be empty"),
    ("${FOO=aaa}", "unsupported modifier (=) in substitution"),
    ("${}", "bad substitution"),
    ("${FOO", "missing '}'"),
    ("'open", "matching single-quote"),
    ('"open', "matching double-quote"),
])
def test_errors_name_the_problem(source, message):
    with pytest.raises(ExpansionError) as e:
        Lexer().word(source, {"FOO": "xxx", "BAR": ""})
    assert message in e.value.message
    assert e.value.message.startswith("failed to process")


@pytest.mark.parametrize("source,env,expected", [
    ("${FOO#*x*y}", {"FOO": "xxyy"}, "y"),
    ("${FOO##*x}", {"FOO": "xxyy"}, "yy"),
    ("${FOO%%\\**}", {"FOO": "xx**"}, "xx"),
    ("${FOO%%\\**\\*}", {"FOO": "a***yy*"}, "a"),
    ("${FOO#?\\?}", {"FOO": "???y"}, "?y"),
    ("${FOO/$NEEDLE/} - ${FOO//$NEEDLE/}", {"FOO": "/tmp/tmp/bar.txt", "NEEDLE": "/tmp"}, "/tmp/bar.txt - /bar.txt"),
    ("${FOO//\\//\\/}", {"FOO": "/tmp/foo.txt"}, "\\/tmp\\/foo.txt"),
])
def test_pattern_trimming_and_replacement(source, env, expected):
    assert Lexer().word(source, env) == expected


@pytest.mark.parametrize("source,expected", [
    ("a b c", ["a", "b", "c"]),
    ('"a b" c', ["a b", "c"]),
    ("$LIST", ["x", "y"]),  # unquoted expansion splits
    ('"$LIST"', ["x y"]),  # quoted does not
    ("a\\ b", ["a b"]),
    ('""', []),
])
def test_word_splitting_after_substitution(source, expected):
    assert Lexer().words(source, {"LIST": "x y"}) == expected


def test_backtick_escape_leaves_backslash_literal():
    lex = Lexer(escape="`")
    assert lex.word("C:\\path\\$X", {"X": "1"}) == "C:\\path\\1"
    assert lex.word("`$X", {"X": "1"}) == "$X"


def test_matched_and_unmatched_names_are_reported():
    result = Lexer().process("$A ${B:-x}", {"A": "1"})
    assert result.matched == {"A"} and result.unmatched == {"B"}
