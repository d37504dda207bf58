"""Container lifecycle over the Engine API, checked the way a client sees it."""

from __future__ import annotations

import json
import socket
import struct
import time
from concurrent.futures import ThreadPoolExecutor

import pytest


def _create(wharfd, image, cmd, **extra):
    status, body = wharfd.api("POST", "/containers/create", {"Image": image, "Cmd": cmd, **extra},
                              params={"name": extra.pop("name", None)} if "name" in extra else None)
    assert status == 201, body
    return body["Id"]


@pytest.fixture
def running(wharfd, busybox):
    cid = _create(wharfd, busybox, ["sh", "-c", "echo out; echo err >&2; exec sleep 300"])
    assert wharfd.api("POST", f"/containers/{cid}/start")[0] == 204
    yield cid
    wharfd.api("DELETE", f"/containers/{cid}", params={"force": 1})


def _inspect(wharfd, cid):
    status, info = wharfd.api("GET", f"/containers/{cid}/json")
    assert status == 200
    return info


def _frames(raw: bytes) -> list[tuple[int, bytes]]:
    out = []
    while raw:
        stream, size = struct.unpack(">BxxxI", raw[:8])
        out.append((stream, raw[8:8 + size]))
        raw = raw[8 + size:]
    return out


def test_create_rules(wharfd, busybox):
    cid = _create(wharfd, busybox, ["true"], name="api-taken")
    try:
        status, body = wharfd.api("POST", "/containers/create", {"Image": busybox},
                                  params={"name": "api-taken"})
        assert status == 409
        assert body["message"] == (
            f'Conflict. The container name "/api-taken" is already in use by container "{cid}". '
            "You have to remove (or rename) that container to be able to reuse that name.")
        status, body = wharfd.api("POST", "/containers/create", {"Image": "nope:latest"})
        assert (status, body["message"]) == (404, "No such image: nope:latest")
        status, body = wharfd.api("POST", "/containers/create",
                                  {"Image": busybox, "HostConfig": {"Memory": 10}})
        assert status == 400 and "Minimum memory limit" in body["message"]
        info = _inspect(wharfd, "api-taken")
        assert info["Name"] == "/api-taken" and info["State"]["Status"] == "created"
        assert info["Config"]["Hostname"] == cid[:12] and info["Path"] == "true"
        assert _inspect(wharfd, cid[:8])["Id"] == cid
    finally:
        wharfd.api("DELETE", f"/containers/{cid}")


def test_start_stop_wait_logs(wharfd, busybox, running):
    assert wharfd.api("POST", f"/containers/{running}/start")[0] == 304
    info = _inspect(wharfd, running)
    assert info["State"]["Running"] and info["State"]["Pid"] > 0
    rows = wharfd.api("GET", "/containers/json", params={
        "filters": json.dumps({"id": [running]})})[1]
    assert rows[0]["State"] == "running" and rows[0]["Status"].startswith("Up ")
    time.sleep(0.3)
    status, raw = wharfd.api("GET", f"/containers/{running}/logs",
                             params={"stdout": 1, "stderr": 1})
    assert status == 200 and sorted(_frames(raw)) == [(1, b"out\n"), (2, b"err\n")]
    status, top = wharfd.api("GET", f"/containers/{running}/top")
    assert status == 200 and "PID" in top["Titles"]
    assert any("sleep 300" in " ".join(p) for p in top["Processes"])
    status, stats = wharfd.api("GET", f"/containers/{running}/stats",
                               params={"stream": 0, "one-shot": 1})
    assert status == 200 and stats["memory_stats"]["usage"] > 0 and stats["id"] == running
    start = time.monotonic()
    assert wharfd.api("POST", f"/containers/{running}/stop", params={"t": 1})[0] == 204
    assert time.monotonic() - start < 5
    assert wharfd.api("POST", f"/containers/{running}/stop")[0] == 304
    status, waited = wharfd.api("POST", f"/containers/{running}/wait")
    assert (status, waited["StatusCode"]) == (200, 137)  # sh as PID 1 ignores SIGTERM
    status, body = wharfd.api("POST", f"/containers/{running}/kill")
    assert status == 409 and "is not running" in body["message"]
    rows = wharfd.api("GET", "/containers/json", params={"all": 1, "filters": json.dumps(
        {"id": [running], "status": ["exited"]})})[1]
    assert rows[0]["Status"].startswith("Exited (137)")


def test_pause_rename_exec_and_remove(wharfd, busybox, running):
    assert wharfd.api("POST", f"/containers/{running}/pause")[0] == 204
    assert _inspect(wharfd, running)["State"]["Status"] == "paused"
    assert wharfd.api("POST", f"/containers/{running}/pause")[0] == 409
    assert wharfd.api("POST", f"/containers/{running}/unpause")[0] == 204
    assert wharfd.api("POST", f"/containers/{running}/rename", params={"name": "api-renamed"})[0] == 204
    assert _inspect(wharfd, "api-renamed")["Id"] == running
    status, ex = wharfd.api("POST", f"/containers/{running}/exec",
                            {"Cmd": ["sh", "-c", "echo in-exec; exit 3"], "AttachStdout": True})
    assert status == 201
    status, raw = wharfd.api("POST", f"/exec/{ex['Id']}/start", {"Detach": False, "Tty": False})
    assert status == 200 and _frames(raw) == [(1, b"in-exec\n")]
    info = wharfd.api("GET", f"/exec/{ex['Id']}/json")[1]
    assert info["ExitCode"] == 3 and info["Running"] is False
    status, body = wharfd.api("DELETE", f"/containers/{running}")
    assert status == 409 and "You cannot remove a running container" in body["message"]
    assert wharfd.api("DELETE", f"/containers/{running}", params={"force": 1})[0] == 204
    assert wharfd.api("GET", f"/containers/{running}/json")[0] == 404


def test_exec_in_stopped_container_is_409(wharfd, busybox):
    cid = _create(wharfd, busybox, ["true"])
    try:
        status, body = wharfd.api("POST", f"/containers/{cid}/exec", {"Cmd": ["true"]})
        assert status == 409 and "is not running" in body["message"]
    finally:
        wharfd.api("DELETE", f"/containers/{cid}")


def test_attach_is_upgraded_and_streams(wharfd, busybox):
    cid = _create(wharfd, busybox, ["sh", "-c", "read line; echo got $line"],
                  OpenStdin=True, StdinOnce=True, AttachStdin=True, AttachStdout=True)
    try:
        with socket.socket(socket.AF_UNIX) as s:
            s.settimeout(15)
            s.connect(str(wharfd.socket))
            s.sendall(f"POST /v1.41/containers/{cid}/attach?stream=1&stdin=1&stdout=1 HTTP/1.1\r\n"
                      "Host: x\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n\r\n".encode())
            head = b""
            while b"\r\n\r\n" not in head:
                head += s.recv(1)
            assert head.startswith(b"HTTP/1.1 101 UPGRADED")
            assert b"application/vnd.docker.multiplexed-stream" in head
            assert wharfd.api("POST", f"/containers/{cid}/start")[0] == 204
            s.sendall(b"hello\n")
            s.shutdown(socket.SHUT_WR)
            out = b""
            while chunk := s.recv(65536):
                out += chunk
        assert _frames(out) == [(1, b"got hello\n")]
        assert wharfd.api("POST", f"/containers/{cid}/wait")[1]["StatusCode"] == 0
    finally:
        wharfd.api("DELETE", f"/containers/{cid}", params={"force": 1})


def test_exec_output_never_comes_with_the_upgrade_answer(wharfd, busybox):
    """A client that reads the 101 answer late (docker-py reads it through a buffer,
    then the stream from the socket under it) gets the answer alone in its first
    read: output sent along would sit in that buffer and be lost."""
    cid = _create(wharfd, busybox, ["sleep", "600"])
    try:
        assert wharfd.api("POST", f"/containers/{cid}/start")[0] == 204
        status, made = wharfd.api("POST", f"/containers/{cid}/exec",
                                  {"Cmd": ["echo", "hi"], "AttachStdout": True})
        assert status == 201, made
        body = b'{"Detach": false, "Tty": false}'
        with socket.socket(socket.AF_UNIX) as s:
            s.settimeout(15)
            s.connect(str(wharfd.socket))
            s.sendall(f"POST /v1.43/exec/{made['Id']}/start HTTP/1.1\r\nHost: x\r\n"
                      "Connection: Upgrade\r\nUpgrade: tcp\r\nContent-Type: application/json\r\n"
                      f"Content-Length: {len(body)}\r\n\r\n".encode() + body)
            time.sleep(0.3)  # the exec has long run and written by now
            head = s.recv(65536)
            assert head.startswith(b"HTTP/1.1 101 UPGRADED") and head.endswith(b"\r\n\r\n"), head
            out = b""
            while chunk := s.recv(65536):
                out += chunk
        assert _frames(out) == [(1, b"hi\n")]
    finally:
        wharfd.api("DELETE", f"/containers/{cid}", params={"force": 1})


def test_failed_start_keeps_created_with_127(wharfd, busybox):
    cid = _create(wharfd, busybox, ["no-such-command"])
    try:
        status, body = wharfd.api("POST", f"/containers/{cid}/start")
        assert status == 400 and "executable file not found" in body["message"]
        state = _inspect(wharfd, cid)["State"]
        assert state["Status"] == "created" and state["ExitCode"] == 127
    finally:
        wharfd.api("DELETE", f"/containers/{cid}")


def test_restart_policy_and_auto_remove(wharfd, busybox):
    cid = _create(wharfd, busybox, ["sh", "-c", "exit 3"],
                  HostConfig={"RestartPolicy": {"Name": "on-failure", "MaximumRetryCount": 2}})
    try:
        assert wharfd.api("POST", f"/containers/{cid}/start")[0] == 204
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            info = _inspect(wharfd, cid)
            if info["RestartCount"] == 2 and info["State"]["Status"] == "exited":
                break
            time.sleep(0.1)
        assert info["RestartCount"] == 2 and info["State"]["ExitCode"] == 3
    finally:
        wharfd.api("DELETE", f"/containers/{cid}", params={"force": 1})
    rm = _create(wharfd, busybox, ["true"], HostConfig={"AutoRemove": True})
    # The wait goes first, as docker's CLI sends it: a started `true` may be gone
    # before a wait sent after the start arrives.
    with ThreadPoolExecutor(1) as pool:
        waited = pool.submit(wharfd.api, "POST", f"/containers/{rm}/wait",
                             params={"condition": "removed"})
        time.sleep(0.3)
        assert wharfd.api("POST", f"/containers/{rm}/start")[0] == 204
        assert waited.result(timeout=30)[0] == 200
    assert wharfd.api("GET", f"/containers/{rm}/json")[0] == 404
