"""Restart policies and Docker's backoff."""

from wharf.engine.container import Container, new_state
from wharf.engine.restart import RestartPolicy


def _c(name, count=0, manual=False, retries=0):
    rec = {"Id": "x", "Name": "/x", "State": new_state(), "Config": {}, "RestartCount": count,
           "HostConfig": {"RestartPolicy": {"Name": name, "MaximumRetryCount": retries}},
           "Wharf": {"ManuallyStopped": manual}}
    return Container(rec, "/nonexistent")


def test_policies():
    assert RestartPolicy.of(_c("always")).wants(_c("always"), 0)
    assert not RestartPolicy.of(_c("no")).wants(_c("no"), 1)
    c = _c("unless-stopped", manual=True)
    assert not RestartPolicy.of(c).wants(c, 1)
    c = _c("on-failure", count=2, retries=3)
    p = RestartPolicy.of(c)
    assert p.wants(c, 1) and not p.wants(c, 0)
    c.record["RestartCount"] = 3
    assert not p.wants(c, 1)


def test_backoff_doubles_caps_and_resets():
    c = _c("always")
    p = RestartPolicy.of(c)
    delays = [p.next_delay(c, 1, 0.5) for _ in range(12)]
    assert delays[:3] == [0.1, 0.2, 0.4] and delays[-1] == 60.0
    assert p.next_delay(c, 1, 30.0) == 0.1  # ran long enough: back to the start


def test_namespace_modes():
    from wharf.engine.launch import namespaces
    c = _c("no")
    c.host_config.update(NetworkMode="host", PidMode="container:db", IpcMode="private",
                         UTSMode="")
    assert namespaces(c, lambda ref, kind: {"db": 42}[ref]) == {
        "network": "host", "pid": "/proc/42/ns/pid"}
