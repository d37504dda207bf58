"""Container behaviours docker-py's suite expects of a Docker daemon (issue 15):
kill, rm of a restarting container, runtimes, detach keys, links, MAC
addresses, cp through a stopped container's mounts, diff. Checked over the API
and with the docker CLI, as a client sees them."""

from __future__ import annotations

import json
import os
import pty
import select
import shutil
import socket
import subprocess
import time

import pytest

from support.daemon import DOCKER

def _create(wharfd, body):
    status, answer = wharfd.api("POST", "/containers/create", body)
    assert status == 201, answer
    return answer["Id"]


def _state(wharfd, cid):
    status, info = wharfd.api("GET", f"/containers/{cid}/json")
    assert status == 200, info
    return info["State"]


@pytest.fixture
def cleanup(wharfd):
    made: list[str] = []
    yield made
    for cid in made:
        wharfd.api("DELETE", f"/containers/{cid}", params={"force": 1})


def _hijack(wharfd, path: str, body: bytes = b"") -> socket.socket:
    """A hijacked attach or exec-start connection, past its 101 answer."""
    s = socket.socket(socket.AF_UNIX)
    s.settimeout(30)
    s.connect(str(wharfd.socket))
    s.sendall(f"POST /v1.41{path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
              f"Content-Length: {len(body)}\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n\r\n"
              .encode() + body)
    head = b""
    while b"\r\n\r\n" not in head:
        head += s.recv(1)
    assert head.startswith(b"HTTP/1.1 101"), head
    return s


def _until_eof(s: socket.socket) -> bytes:
    out = b""
    while chunk := s.recv(65536):
        out += chunk
    return out


def test_sigkill_answers_once_dead(wharfd, busybox, cleanup):
    cid = _create(wharfd, {"Image": busybox, "Cmd": ["sleep", "300"]})
    cleanup.append(cid)
    assert wharfd.api("POST", f"/containers/{cid}/start")[0] == 204
    assert wharfd.api("POST", f"/containers/{cid}/kill")[0] == 204
    state = _state(wharfd, cid)
    assert (state["Running"], state["Status"], state["ExitCode"]) == (False, "exited", 137)


def test_rm_of_a_container_with_restart_policy_needs_force(wharfd, busybox, cleanup):
    cid = _create(wharfd, {"Image": busybox, "Cmd": ["true"],
                           "HostConfig": {"RestartPolicy": {"Name": "always"},
                                          "NetworkMode": "none"}})
    cleanup.append(cid)
    assert wharfd.api("POST", f"/containers/{cid}/start")[0] == 204
    assert wharfd.api("POST", f"/containers/{cid}/wait",
                      params={"condition": "next-exit"})[0] == 200
    # running again or waiting to: either way Docker refuses without force
    status, body = wharfd.api("DELETE", f"/containers/{cid}")
    assert status == 409
    assert body["message"].startswith(("You cannot remove a restarting container ",
                                       "You cannot remove a running container "))
    assert body["message"].endswith(
        "Stop the container before attempting removal or force remove")
    assert wharfd.api("DELETE", f"/containers/{cid}", params={"force": 1})[0] == 204
    cleanup.remove(cid)


def test_runtime_asked_for_is_used_and_unknown_refused(wharfd, busybox, cleanup):
    cid = _create(wharfd, {"Image": busybox, "Cmd": ["echo", "under runc"],
                           "HostConfig": {"Runtime": "runc"}})
    cleanup.append(cid)
    assert wharfd.api("POST", f"/containers/{cid}/start")[0] == 204
    assert wharfd.api("POST", f"/containers/{cid}/wait")[1]["StatusCode"] == 0
    info = wharfd.api("GET", f"/containers/{cid}/json")[1]
    assert info["HostConfig"]["Runtime"] == "runc"
    # docker-py's create_container(runtime=) puts it beside the Config
    other = _create(wharfd, {"Image": busybox, "Cmd": ["true"], "Runtime": "runc"})
    cleanup.append(other)
    assert wharfd.api("GET", f"/containers/{other}/json")[1]["HostConfig"]["Runtime"] == "runc"
    status, body = wharfd.api("POST", "/containers/create",
                              {"Image": busybox, "HostConfig": {"Runtime": "nope"}})
    assert (status, body["message"]) == (400, "Unknown runtime specified nope")


@pytest.mark.parametrize("keys, typed", [(None, b"\x10\x11"), ("ctrl-x", b"\x18"),
                                         ("ctrl-p", b"\x10")])
def test_attach_detach_keys_end_the_stream_not_the_container(wharfd, busybox, cleanup,
                                                             keys, typed):
    cid = _create(wharfd, {"Image": busybox, "Cmd": ["cat"], "OpenStdin": True, "Tty": True})
    cleanup.append(cid)
    assert wharfd.api("POST", f"/containers/{cid}/start")[0] == 204
    query = "stdin=1&stdout=1&stream=1" + (f"&detachKeys={keys}" if keys else "")
    with _hijack(wharfd, f"/containers/{cid}/attach?{query}") as s:
        s.sendall(b"before\n")
        seen = b""
        while b"before" not in seen:  # the tty's echo: stdin reached the container
            seen += s.recv(65536)
        for byte in typed:  # a key at a time, as a terminal sends them
            s.sendall(bytes([byte]))
        assert b"\x10" not in _until_eof(s)
    state = _state(wharfd, cid)
    assert state["Running"] and state["Status"] == "running"
    events = wharfd.api("GET", "/events", params={
        "since": "0", "until": f"{time.time():.9f}", "filters": json.dumps({"container": [cid]})})[1]
    assert b'"Action":"detach"' in events.replace(b" ", b"")


def test_exec_detach_keys_from_create_leave_the_process_running(wharfd, busybox, cleanup):
    cid = _create(wharfd, {"Image": busybox, "Cmd": ["cat"], "OpenStdin": True})
    cleanup.append(cid)
    assert wharfd.api("POST", f"/containers/{cid}/start")[0] == 204
    status, body = wharfd.api("POST", f"/containers/{cid}/exec", {
        "Cmd": ["cat"], "AttachStdin": True, "AttachStdout": True, "Tty": True,
        "detachKeys": "ctrl-a,b"})
    assert status == 201, body
    with _hijack(wharfd, f"/exec/{body['Id']}/start", b'{"Tty": true}') as s:
        s.sendall(b"\x01a\x01")  # a false start passes through
        s.sendall(b"b")
        _until_eof(s)
    inspect = wharfd.api("GET", f"/exec/{body['Id']}/json")[1]
    assert inspect["Running"] and inspect["DetachKeys"] == "ctrl-a,b"
    status, body = wharfd.api("POST", f"/containers/{cid}/exec",
                              {"Cmd": ["true"], "DetachKeys": "ctrl-1"})
    assert (status, body["message"]) == (400, "Invalid escape keys (ctrl-1) provided")
    status, body = wharfd.api("POST", f"/containers/{cid}/attach",
                              params={"stream": 1, "detachKeys": "ctrl-1"})
    assert (status, body["message"]) == (400, "Invalid detach keys (ctrl-1) provided")


def test_cp_of_a_stopped_container_goes_through_its_volumes_and_binds(wharfd, busybox,
                                                                       tmp_path):
    """As Docker mounts a stopped container's volumes for the copy: ``/vol1`` is the
    volume, ``/data`` the host directory, not the directories under them in the layer."""
    (tmp_path / "bound").mkdir()
    (tmp_path / "bound" / "from-host").write_text("host side\n")
    (tmp_path / "ro").mkdir()
    (tmp_path / "in").write_text("copied in\n")
    r = wharfd.docker("create", "-v", "/vol1", "-v", f"{tmp_path / 'bound'}:/data",
                      "-v", f"{tmp_path / 'ro'}:/ro:ro", busybox,
                      "sh", "-c", "cat /vol1/in /data/in; echo made > /vol1/out")
    assert r.returncode == 0, r.stderr
    cid = r.stdout.strip()
    try:
        for where in ("/vol1/", "/data/"):
            r = wharfd.docker("cp", str(tmp_path / "in"), f"{cid}:{where}")
            assert r.returncode == 0, r.stderr
        assert (tmp_path / "bound" / "in").read_text() == "copied in\n"
        r = wharfd.docker("start", "-a", cid)
        assert (r.returncode, r.stdout) == (0, "copied in\ncopied in\n"), r.stderr
        r = wharfd.docker("cp", f"{cid}:/vol1/out", str(tmp_path / "out"))
        assert r.returncode == 0, r.stderr
        assert (tmp_path / "out").read_text() == "made\n"
        r = wharfd.docker("cp", f"{cid}:/data/from-host", str(tmp_path / "back"))
        assert r.returncode == 0, r.stderr
        assert (tmp_path / "back").read_text() == "host side\n"
        r = wharfd.docker("cp", str(tmp_path / "in"), f"{cid}:/ro/")
        assert r.returncode != 0 and not (tmp_path / "ro" / "in").exists()
        # nothing stays mounted once the copies are done
        with open("/proc/self/mountinfo") as f:
            assert cid not in f.read()
    finally:
        wharfd.docker("rm", "-v", cid)


def _logs(wharfd, cid) -> str:
    raw = wharfd.api("GET", f"/containers/{cid}/logs", params={"stdout": 1})[1]
    out = b""
    while raw:  # multiplexed frames
        size = int.from_bytes(raw[4:8], "big")
        out, raw = out + raw[8:8 + size], raw[8 + size:]
    return out.decode()


def test_legacy_links_env_hosts_and_removal(wharfd, busybox, cleanup):
    child = _create(wharfd, {"Image": busybox, "Cmd": ["sleep", "300"], "Env": ["FOO=1"],
                             "ExposedPorts": {"80/tcp": {}, "53/udp": {}}})
    cleanup.append(child)
    assert wharfd.api("POST", f"/containers/{child}/start")[0] == 204
    info = wharfd.api("GET", f"/containers/{child}/json")[1]
    name, ip = info["Name"], info["NetworkSettings"]["Networks"]["bridge"]["IPAddress"]
    parent = _create(wharfd, {"Image": busybox, "Cmd": ["sh", "-c", "env; cat /etc/hosts"],
                              "HostConfig": {"Links": [f"{name}:my-db"]}})
    cleanup.append(parent)
    assert wharfd.api("POST", f"/containers/{parent}/start")[0] == 204
    assert wharfd.api("POST", f"/containers/{parent}/wait")[1]["StatusCode"] == 0
    out = _logs(wharfd, parent)
    pname = wharfd.api("GET", f"/containers/{parent}/json")[1]["Name"]
    for line in (f"MY_DB_PORT=udp://{ip}:53", f"MY_DB_PORT_80_TCP=tcp://{ip}:80",
                 f"MY_DB_PORT_80_TCP_ADDR={ip}", "MY_DB_PORT_80_TCP_PORT=80",
                 "MY_DB_PORT_53_UDP_PROTO=udp", f"MY_DB_NAME={pname}/my-db", "MY_DB_ENV_FOO=1"):
        assert line + "\n" in out, out
    assert "MY_DB_ENV_PATH" not in out
    assert any(line.split()[:1] == [ip] and "my-db" in line.split() for line in out.splitlines())
    status, body = wharfd.api("DELETE", f"/containers{pname}/my-db", params={"link": 1})
    assert status == 204, body
    assert wharfd.api("GET", f"/containers/{parent}/json")[1]["HostConfig"]["Links"] is None
    assert wharfd.api("GET", f"/containers/{child}/json")[1]["State"]["Running"]
    status, body = wharfd.api("DELETE", f"/containers{pname}/my-db", params={"link": 1})
    assert (status, body["message"]) == (404, f"No such container: {pname[1:]}/my-db")


def test_endpoint_link_alias_resolves_on_a_user_network(wharfd, busybox, cleanup):
    status, net = wharfd.api("POST", "/networks/create", {"Name": "parity-links"})
    assert status == 201, net
    try:
        status, body = wharfd.api("POST", "/containers/create", {
            "Image": busybox, "Cmd": ["sleep", "300"],
            "HostConfig": {"NetworkMode": "parity-links"}}, params={"name": "parity-upstream"})
        assert status == 201, body
        upstream = body["Id"]
        cleanup.append(upstream)
        cid = _create(wharfd, {"Image": busybox, "Cmd": ["sleep", "300"],
                               "HostConfig": {"NetworkMode": "parity-links"}})
        cleanup.append(cid)
        for each in (upstream, cid):
            assert wharfd.api("POST", f"/containers/{each}/start")[0] == 204
        assert wharfd.api("POST", "/networks/parity-links/disconnect", {"Container": cid})[0] == 200
        assert wharfd.api("POST", "/networks/parity-links/connect", {
            "Container": cid,
            "EndpointConfig": {"Links": ["parity-upstream:bar"]}})[0] == 200
        r = wharfd.docker("exec", cid, "nslookup", "bar")
        assert r.returncode == 0, r.stdout + r.stderr
        ip = wharfd.api("GET", f"/containers/{upstream}/json")[1][
            "NetworkSettings"]["Networks"]["parity-links"]["IPAddress"]
        assert ip in r.stdout
    finally:
        for each in list(cleanup):
            wharfd.api("DELETE", f"/containers/{each}", params={"force": 1})
        cleanup.clear()
        wharfd.api("DELETE", "/networks/parity-links")


def test_requested_mac_address_is_the_interfaces(wharfd, busybox, cleanup):
    # (docker CLI 28 sends --mac-address per network, API 1.44, which dockerd 24 refuses)
    r = wharfd.wharf("run", "-d", "--mac-address", "02:42:ac:11:00:0a", busybox, "sleep", "300")
    assert r.returncode == 0, r.stderr
    cid = r.stdout.strip()
    cleanup.append(cid)
    info = wharfd.api("GET", f"/containers/{cid}/json")[1]
    assert info["NetworkSettings"]["MacAddress"] == "02:42:ac:11:00:0a"
    assert info["Config"]["MacAddress"] == "02:42:ac:11:00:0a"
    r = wharfd.docker("exec", cid, "cat", "/sys/class/net/eth0/address")
    assert r.stdout == "02:42:ac:11:00:0a\n", r.stderr
    status, net = wharfd.api("POST", "/networks/create", {"Name": "parity-mac"})
    assert status == 201, net
    try:
        assert wharfd.api("POST", "/networks/parity-mac/connect", {
            "Container": cid, "EndpointConfig": {"MacAddress": "02:42:ac:11:00:0b"}})[0] == 200
        info = wharfd.api("GET", f"/containers/{cid}/json")[1]
        assert info["NetworkSettings"]["Networks"]["parity-mac"]["MacAddress"] == \
            "02:42:ac:11:00:0b"
        r = wharfd.docker("exec", cid, "cat", "/sys/class/net/eth1/address")
        assert r.stdout == "02:42:ac:11:00:0b\n", r.stderr
    finally:
        wharfd.api("DELETE", f"/containers/{cid}", params={"force": 1})
        wharfd.api("DELETE", "/networks/parity-mac")


def test_attach_made_before_start_gets_all_output(wharfd, busybox, cleanup):
    """docker-py's attach_socket-then-start: a container created detached (no
    AttachStdout), whose output may end before the stream reaches its shim."""
    for _ in range(10):
        cid = _create(wharfd, {"Image": busybox, "Cmd": ["printf", "hi there"]})
        cleanup.append(cid)
        with _hijack(wharfd, f"/containers/{cid}/attach?stdout=1&stream=1&logs=1") as s:
            assert wharfd.api("POST", f"/containers/{cid}/start")[0] == 204
            assert _until_eof(s) == b"\x01\x00\x00\x00\x00\x00\x00\x08hi there"


@pytest.mark.parametrize("runtime", ["wharf", "runc"])
def test_diff_lists_what_the_container_changed_not_its_mount_points(wharfd, busybox, tmp_path,
                                                                    runtime):
    """An image without /proc, /dev, /sys, /etc: the runtime makes them (Docker's init
    layer holds them), and ``docker diff`` shows only the container's own changes."""
    shutil.copy("/bin/busybox", tmp_path / "busybox")
    (tmp_path / "Dockerfile").write_text('FROM scratch\nCOPY busybox /bin/busybox\n')
    r = wharfd.docker("build", "-q", "-t", "parity-bare", str(tmp_path))
    assert r.returncode == 0, r.stderr
    r = wharfd.docker("run", "--runtime", runtime, "--name", f"parity-diff-{runtime}",
                      "parity-bare", "/bin/busybox", "touch", "/etc/mine")
    assert r.returncode == 0, r.stderr
    try:
        r = wharfd.docker("diff", f"parity-diff-{runtime}")
        assert (r.returncode, r.stdout) == (0, "C /etc\nA /etc/mine\n"), r.stderr
    finally:
        wharfd.docker("rm", f"parity-diff-{runtime}")
        wharfd.docker("rmi", "parity-bare")


def _read_until(fd: int, needle: bytes) -> bytes:
    seen = b""
    while needle not in seen:
        ready, _, _ = select.select([fd], [], [], 30)
        assert ready, f"no {needle!r} in {seen!r}"
        seen += os.read(fd, 4096)
    return seen


@pytest.mark.parametrize("config, typed", [(None, b"\x10\x11"), ({"detachKeys": "ctrl-x"}, b"\x18")])
def test_docker_cli_detaches_from_run_it_and_exec_it(wharfd, busybox, tmp_path, config, typed):
    """The docker CLI leaves detaching to the daemon: it sends its config file's
    ``detachKeys`` and waits for the stream to end."""
    env = dict(wharfd.env)
    if config is not None:
        (tmp_path / "config.json").write_text(json.dumps(config))
        env["DOCKER_CONFIG"] = str(tmp_path)
    name = f"parity-detach-{len(typed)}"
    try:
        for args in (["run", "-it", "--name", name, busybox, "sh"], ["exec", "-it", name, "sh"]):
            master, slave = pty.openpty()
            proc = subprocess.Popen([DOCKER, *args], stdin=slave, stdout=slave, stderr=slave,
                                    env=env, start_new_session=True)
            os.close(slave)
            try:
                _read_until(master, b"# ")
                os.write(master, b"echo $((6*7))\r")
                _read_until(master, b"42")
                os.write(master, typed)
                code = proc.wait(30)
                tail = b""
                while select.select([master], [], [], 0)[0]:
                    try:
                        chunk = os.read(master, 4096)
                    except OSError:
                        break
                    if not chunk:
                        break
                    tail += chunk
                # docker exec reports a detach as "read escape sequence", exit 1 (with
                # dockerd too); run returns 0
                assert code == 0 or args[0] == "exec" and b"read escape sequence" in tail, tail
            finally:
                if proc.poll() is None:
                    proc.kill()
                    proc.wait()
                os.close(master)
            assert _state(wharfd, name)["Running"]
    finally:
        wharfd.api("DELETE", f"/containers/{name}", params={"force": 1})
