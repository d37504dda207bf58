"""The ``filters`` argument: both wire forms, unknown keys, label matching."""

import json

import pytest

from wharf.engine import filters as flt
from wharf.errors import InvalidParameter


def test_both_wire_forms_decode_to_lists():
    assert flt.parse(json.dumps({"status": ["running"]}), ["status"]) == {"status": ["running"]}
    assert flt.parse(json.dumps({"status": {"exited": True, "paused": False}}), ["status"]) == {
        "status": ["exited"]}
    assert flt.parse(None, []) == {}


def test_unknown_key_and_bad_json_are_400():
    with pytest.raises(InvalidParameter, match="invalid filter 'colour'"):
        flt.parse(json.dumps({"colour": ["red"]}), ["status"])
    with pytest.raises(InvalidParameter):
        flt.parse("{nope", ["status"])


def test_labels():
    labels = {"a": "1", "b": "2"}
    assert flt.match_labels(labels, ["a", "b=2"])
    assert not flt.match_labels(labels, ["c"])
    assert not flt.match_labels(labels, ["a=2"])
    assert flt.match_labels(labels, ["a!=2"])
    assert not flt.match_labels(labels, ["a!=1"])
