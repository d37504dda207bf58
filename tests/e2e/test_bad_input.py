"""Bad input gets docker's answer and leaves nothing behind."""

from __future__ import annotations

import pytest


def _container_count(wharfd) -> int:
    return len(wharfd.api("GET", "/containers/json", params={"all": 1})[1])


def test_unknown_image(wharfd, busybox):
    before = _container_count(wharfd)
    r = wharfd.wharf("run", "--rm", "no-such-image-here", "true")
    assert r.returncode == 125
    assert "Unable to find image 'no-such-image-here:latest' locally" in r.stderr
    assert _container_count(wharfd) == before


def test_bad_memory_value(wharfd, busybox):
    before = _container_count(wharfd)
    r = wharfd.wharf("run", "--memory", "abc", busybox, "true")
    assert r.returncode == 125
    assert "invalid argument \"abc\" for \"-m, --memory\" flag" in r.stderr
    assert _container_count(wharfd) == before


def test_name_in_use(wharfd, busybox):
    r = wharfd.wharf("create", "--name", "taken", busybox, "true")
    assert r.returncode == 0, r.stderr
    try:
        r2 = wharfd.wharf("run", "--name", "taken", busybox, "true")
        assert r2.returncode == 125
        assert 'The container name "/taken" is already in use' in r2.stderr
    finally:
        wharfd.wharf("rm", "taken")


def test_command_not_found_is_127_and_not_executable_is_126(wharfd, busybox):
    r = wharfd.wharf("run", "--rm", busybox, "no-such-command")
    assert r.returncode == 127
    assert "executable file not found" in r.stderr
    r = wharfd.wharf("run", "--rm", busybox, "/etc/passwd")
    assert r.returncode == 126
    assert "permission denied" in r.stderr


def test_rm_of_running_container_and_unknown_id(wharfd, busybox):
    cid = wharfd.wharf("run", "-d", busybox, "sleep", "60").stdout.strip()
    try:
        r = wharfd.wharf("rm", cid)
        assert r.returncode == 1
        assert "You cannot remove a running container" in r.stderr
    finally:
        assert wharfd.wharf("rm", "-f", cid).returncode == 0
    r = wharfd.wharf("rm", "0123456789ab")
    assert r.returncode == 1
    assert "No such container: 0123456789ab" in r.stderr


@pytest.mark.parametrize("body", [b"{not json", b'{"Image": 5}', b'["a list"]', b'{"HostConfig": "x"}'])
def test_malformed_api_body_is_400_and_the_daemon_lives(wharfd, busybox, body):
    status, answer = wharfd.api("POST", "/containers/create", body=body)
    assert status == 400
    assert isinstance(answer, dict) and answer["message"]
    assert wharfd.api("GET", "/_ping")[0] == 200


def test_unknown_container_over_the_api_is_404(wharfd):
    status, answer = wharfd.api("POST", "/containers/nope/start")
    assert status == 404
    assert answer == {"message": "No such container: nope"}
