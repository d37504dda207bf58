"""System routes over a real wharfd: ping, version, info, events, errors."""

from __future__ import annotations

import json
import socket
import time

from wharf.runtime import cgroups


def _raw(wharfd, request: bytes) -> bytes:
    with socket.socket(socket.AF_UNIX) as s:
        s.settimeout(10)
        s.connect(str(wharfd.socket))
        s.sendall(request)
        out = b""
        while chunk := s.recv(65536):
            out += chunk
    return out


def test_ping_version_info(wharfd, busybox):
    head = _raw(wharfd, b"HEAD /_ping HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200")
    assert b"Api-Version: 1.43" in head and b"Builder-Version: 1" in head
    status, version = wharfd.api("GET", "/v1.41/version")
    assert status == 200 and version["ApiVersion"] == "1.43" and version["Os"] == "linux"
    assert version["MinAPIVersion"] == "1.12"
    status, info = wharfd.api("GET", "/info")
    assert status == 200
    assert info["Driver"] == "overlay2" and info["CgroupDriver"] == "cgroupfs"
    assert info["CgroupVersion"] == ("2" if cgroups.is_v2() else "1") and info["Images"] >= 1
    assert info["DockerRootDir"] == str(wharfd.data_root)
    assert info["Containers"] == (info["ContainersRunning"] + info["ContainersPaused"]
                                  + info["ContainersStopped"])


def test_errors(wharfd):
    status, body = wharfd.api("GET", "/v1.99/containers/json")
    assert status == 400 and body["message"] == ("client version 1.99 is too new. "
                                                 "Maximum supported API version is 1.43")
    assert wharfd.api("GET", "/no/such/route") == (404, {"message": "page not found"})
    status, body = wharfd.api("POST", "/containers/create", body=b"{oops")
    assert status == 400 and body["message"]


def test_events_since_until_and_filters(wharfd, busybox):
    since = time.time()
    status, created = wharfd.api("POST", "/containers/create", {"Image": busybox, "Cmd": ["true"]})
    assert status == 201
    cid = created["Id"]
    assert wharfd.api("DELETE", f"/containers/{cid}")[0] == 204
    until = time.time() + 0.5
    status, raw = wharfd.api("GET", "/events", params={
        "since": f"{since:.3f}", "until": f"{until:.3f}",
        "filters": json.dumps({"container": [cid], "type": ["container"]})})
    assert status == 200
    events = [json.loads(line) for line in raw.splitlines()] if isinstance(raw, bytes) else [raw]
    assert [e["Action"] for e in events] == ["create", "destroy"]
    assert events[0]["Actor"]["Attributes"]["image"] == busybox and events[0]["id"] == cid
