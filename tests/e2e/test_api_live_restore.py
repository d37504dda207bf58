"""A clean daemon restart (SIGTERM) keeps containers and their states."""

from __future__ import annotations

import time


def _state(d, cid):
    return d.api("GET", f"/containers/{cid}/json")[1]["State"]


def _run(d, cmd, **extra):
    status, body = d.api("POST", "/containers/create", {"Image": "busybox", "Cmd": cmd, **extra})
    assert status == 201, body
    assert d.api("POST", f"/containers/{body['Id']}/start")[0] == 204
    return body["Id"]


def test_sigterm_restart_keeps_running_paused_and_stopped_states(make_wharfd):
    d = make_wharfd()
    running = _run(d, ["sleep", "300"])
    paused = _run(d, ["sleep", "300"])
    assert d.api("POST", f"/containers/{paused}/pause")[0] == 204
    stopped = _run(d, ["sleep", "300"], HostConfig={"RestartPolicy": {"Name": "unless-stopped"}})
    assert d.api("POST", f"/containers/{stopped}/stop", params={"t": 0})[0] == 204
    pid = _state(d, running)["Pid"]

    d.restart()

    assert _state(d, running)["Running"] and _state(d, running)["Pid"] == pid
    assert _state(d, paused)["Status"] == "paused"
    time.sleep(0.5)
    assert _state(d, stopped)["Status"] == "exited"  # stopped by hand: no restart at boot
    assert d.api("POST", f"/containers/{paused}/unpause")[0] == 204
    assert d.api("POST", f"/containers/{running}/kill")[0] == 204
    assert d.api("POST", f"/containers/{running}/wait")[1]["StatusCode"] == 137
    status, info = d.api("GET", "/info")
    assert (info["Containers"], info["ContainersRunning"]) == (3, 1)
