"""The client's JSON codec answers exactly as the stdlib's json does (it is the same
C code), and the commands that use it never import ``re``."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from wharf.client import jsonio

DOCS = ['{"Id": "abc", "Warnings": []}', ' [1, -2.5e3, null, true, false] \n',
        '"caf\\u00e9 \\ud83d\\ude00"', '{"a": {"b": [{}, []]}, "n": 12345678901234567890}',
        'NaN', '[Infinity, -Infinity]']


@pytest.mark.parametrize("doc", DOCS)
def test_loads_equals_json(doc: str) -> None:
    assert repr(jsonio.loads(doc)) == repr(json.loads(doc))
    assert repr(jsonio.loads(doc.encode())) == repr(json.loads(doc))


def test_dumps_equals_compact_json() -> None:
    body = {"Image": "busybox", "Cmd": ["sh", "-c", "echo é\n"], "HostConfig": {"Memory": 0,
            "AutoRemove": True, "Binds": None}, "Labels": {"k": "v"}, 3: 1.5}
    assert jsonio.dumps(body) == json.dumps(body, separators=(",", ":")).encode()


@pytest.mark.parametrize("bad", ["", "   ", "{", "[1] x", "nul", '{"a": 1,}'])
def test_malformed_documents_raise_value_error(bad: str) -> None:
    with pytest.raises(ValueError):
        json.loads(bad)
    with pytest.raises(ValueError):
        jsonio.loads(bad)


def test_unserializable_raises_type_error() -> None:
    with pytest.raises(TypeError, match="not JSON serializable"):
        jsonio.dumps({"x": object()})


def test_wharf_run_path_imports_no_re_json_or_socket_wrapper() -> None:
    code = ("import sys; from wharf.cli.commands import run; from wharf.client import jsonio;"
            "jsonio.loads(jsonio.dumps({'a': 1}));"
            "print(sorted(m for m in ('re', 'json', 'socket', 'enum', 'contextlib') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
