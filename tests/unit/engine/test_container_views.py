"""``docker ps`` STATUS/STATE words and the inspect/list shapes of a record."""

import asyncio
import time

from wharf.engine.container import Container, command_line, new_state, state_word, status_text
from wharf.engine.timefmt import rfc3339nano


def _ago(seconds):
    return rfc3339nano(int((time.time() - seconds) * 1e9))


def test_status_words():
    s = new_state()
    assert (state_word(s), status_text(s)) == ("created", "Created")
    s.update(Running=True, StartedAt=_ago(3))
    assert (state_word(s), status_text(s)) == ("running", "Up 3 seconds")
    s["Paused"] = True
    assert (state_word(s), status_text(s)) == ("paused", "Up 3 seconds (Paused)")
    s.update(Paused=False, Running=False, ExitCode=0, FinishedAt=_ago(120))
    assert (state_word(s), status_text(s)) == ("exited", "Exited (0) 2 minutes ago")
    s.update(Running=True, Restarting=True, ExitCode=1, FinishedAt=_ago(1))
    assert (state_word(s), status_text(s)) == ("restarting", "Restarting (1) 1 second ago")


def _record():
    return {"Id": "a" * 64, "Name": "/web", "Created": _ago(5), "Path": "sh",
            "Args": ["-c", "echo hi"], "Image": "sha256:" + "b" * 64, "State": new_state(),
            "Config": {"Image": "busybox", "Labels": {"x": "1"}},
            "HostConfig": {"NetworkMode": "default"}, "Wharf": {"ManuallyStopped": True}}


def test_summary_and_inspect_shapes():
    c = Container(_record(), "/nonexistent")
    row = c.summary()
    assert row["Names"] == ["/web"] and row["Command"] == "sh -c 'echo hi'"
    assert row["State"] == "created" and row["Status"] == "Created"
    assert row["HostConfig"] == {"NetworkMode": "default"} and "SizeRw" not in row
    assert c.summary(size_rw=42)["SizeRw"] == 42
    doc = c.inspect()
    assert "Wharf" not in doc and doc["State"]["Status"] == "created"
    doc["State"]["Running"] = True
    assert c.state["Running"] is False  # inspect is a copy
    assert c.event_attributes(exitCode=0) == {"x": "1", "image": "busybox", "name": "web",
                                              "exitCode": "0"}
    assert command_line("true", []) == "true"


def test_a_cancelled_wait_is_forgotten_at_once_and_the_others_still_wake():
    """A ``wait`` whose client went must not be held until the container's next exit."""
    async def main():
        c = Container(_record(), "/nonexistent")
        gone = [c.waiter("exit") for _ in range(1000)]
        kept = c.waiter("exit")
        for fut in gone:
            fut.cancel()
        await asyncio.sleep(0)
        assert c._waiters["exit"] == {kept}
        c.notify("exit")
        assert (await kept)["StatusCode"] == 0
    asyncio.run(main())
