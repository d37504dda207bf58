"""A torn ``config.v2.json`` still gives a container ``ps -a`` can list as dead."""

from __future__ import annotations

import json

from wharf.engine.container import Container, dead_record, state_word

CID = "c" * 64
FULL = {"Id": CID, "Created": "2026-01-02T03:04:05.1Z", "Path": "sh", "Args": [],
        "State": {"Status": "exited"}, "Image": "sha256:" + "e" * 64,
        "LogPath": f"/d/containers/{CID}/{CID}-json.log", "Name": "/web",
        "Config": {"Image": "busybox"}}


def test_what_survives_in_the_text_is_recovered() -> None:
    text = json.dumps(FULL, separators=(",", ":"))
    rec = dead_record(CID, text[:-20], "2026-09-09T00:00:00Z", "broken record: x")
    c = Container(rec, "/d")
    assert (c.name, rec["Image"], rec["Created"]) == ("web", FULL["Image"], FULL["Created"])
    assert state_word(c.state) == "dead" and c.state["Error"] == "broken record: x"
    assert c.summary()["State"] == "dead" and c.inspect()["State"]["Status"] == "dead"


def test_garbage_gives_the_id_as_name_and_the_file_time() -> None:
    rec = dead_record(CID, "\x00\x01garbage", "2026-09-09T00:00:00Z", "broken record: x")
    c = Container(rec, "/d")
    assert (c.name, rec["Image"], rec["Created"]) == (CID[:12], "", "2026-09-09T00:00:00Z")
    assert c.summary()["Command"] == "" and c.event_attributes()["name"] == CID[:12]
