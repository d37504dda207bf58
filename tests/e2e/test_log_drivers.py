"""Container logs as a user reads them: complete right after the output is
written (the shim's flush), and per log driver (docs/architecture.md, "engine ↔ shim")."""

from __future__ import annotations

import gzip
import os
import re
import select
import socket
import subprocess
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from support.commands import ok
from support.daemon import DOCKER
from support.polling import eventually

pytestmark = pytest.mark.root


def _written_then_logs(wharfd, busybox: str, sync_dir: Path) -> bytes:
    """A container writes a line, then tells us through a FIFO; its logs at once."""
    fifo = sync_dir / "fifo"
    os.mkfifo(fifo)
    status, made = wharfd.api("POST", "/containers/create", {
        "Image": busybox, "Cmd": ["sh", "-c", "echo hi; echo >/sync/fifo; sleep 600"],
        "HostConfig": {"Binds": [f"{sync_dir}:/sync"]}})
    assert status == 201, made
    cid = made["Id"]
    try:
        # open before the start: the container's open for writing then never blocks
        fd = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)
        try:
            status, _ = wharfd.api("POST", f"/containers/{cid}/start")
            assert status == 204
            # "hi" is in the container's stdout pipe once the FIFO has a line
            assert select.select([fd], [], [], 60)[0], "the container never wrote"
        finally:
            os.close(fd)
        status, body = wharfd.api("GET", f"/containers/{cid}/logs", params={"stdout": 1})
        assert status == 200
        return body or b""
    finally:
        wharfd.api("DELETE", f"/containers/{cid}", params={"force": 1})


def test_logs_right_after_output_see_it(wharfd, busybox, tmp_path):
    """Many write-then-logs cycles, eight at a time: the log read after the
    container wrote has the line, however late the shim would have read it."""
    dirs = [tmp_path / str(i) for i in range(48)]
    for d in dirs:
        d.mkdir()
    with ThreadPoolExecutor(8) as pool:
        bodies = list(pool.map(lambda d: _written_then_logs(wharfd, busybox, d), dirs))
    assert [b for b in bodies if not b.endswith(b"hi\n")] == []


def _started_then_logs(wharfd, busybox: str, cmd: list[str]) -> bytes:
    status, made = wharfd.api("POST", "/containers/create", {"Image": busybox, "Cmd": cmd})
    assert status == 201, made
    cid = made["Id"]
    try:
        assert wharfd.api("POST", f"/containers/{cid}/start")[0] == 204
        status, body = wharfd.api("GET", f"/containers/{cid}/logs", params={"stdout": 1})
        assert status == 200
        return body or b""
    finally:
        wharfd.api("DELETE", f"/containers/{cid}", params={"force": 1})


def test_logs_at_once_after_start_see_the_first_output(wharfd, busybox):
    """Start, then logs with no wait (docker-py's build tests do): the first lines
    are there, as on dockerd, even when the container had not run yet at the read;
    a container that stays silent still answers (empty)."""
    with ThreadPoolExecutor(8) as pool:
        bodies = list(pool.map(lambda _: _started_then_logs(
            wharfd, busybox, ["sh", "-c", "echo hi; sleep 600"]), range(32)))
    assert [b for b in bodies if not b.endswith(b"hi\n")] == []
    assert _started_then_logs(wharfd, busybox, ["sleep", "600"]) == b""


def _lines(n: int) -> str:
    """A shell loop printing ``line-0`` … ``line-{n-1}``, 100 bytes each, then ``last``."""
    return (f"i=0; while [ $i -lt {n} ]; do echo line-$i-$(printf %090d 0); i=$((i+1)); done; "
            "echo last")


@pytest.mark.parametrize("driver,opts", [
    ("json-file", ["--log-opt", "max-size=10k", "--log-opt", "max-file=3",
                   "--log-opt", "compress=true"]),
    ("local", ["--log-opt", "max-size=10k", "--log-opt", "max-file=3"]),  # compressed by default
])
def test_rotated_compressed_logs_read_back(wharfd, busybox, driver, opts):
    cid = ok(wharfd.docker("run", "-d", "--log-driver", driver, *opts, busybox,
                            "sh", "-c", _lines(600))).strip()
    try:
        assert ok(wharfd.docker("wait", cid)).strip() == "0"
        directory = wharfd.data_root / "containers" / cid
        base = directory / "local-logs" / "container.log" if driver == "local" else \
            directory / f"{cid}-json.log"

        def names() -> set[str]:
            return {p.name[len(base.name):] for p in base.parent.iterdir()
                    if p.name.startswith(base.name) and not p.name.endswith(".tmp")}
        # While a rotated file is gzipped the live one is not rotated again (as Docker's
        # rotation lock), so how many rotations a loaded machine saw varies; never more
        # than max-file files, the rotated ones gzipped once the last gzip is done.
        assert eventually(lambda: ".1" not in names()), names()
        assert ".1.gz" in names() and names() <= {"", ".1.gz", ".2.gz"}, names()
        assert gzip.decompress((base.parent / (base.name + ".1.gz")).read_bytes())
        out = ok(wharfd.docker("logs", cid)).splitlines()
        first = int(out[0].split("-")[1])
        assert 0 < first and out == [f"line-{i}-{0:090d}" for i in range(first, 600)] + ["last"]
        assert ok(wharfd.docker("logs", "--tail", "3", cid)).splitlines() == out[-3:]
        stamped = ok(wharfd.docker("logs", "-t", cid)).splitlines()
        middle = stamped[len(stamped) // 2].split(" ", 1)[0]
        since = ok(wharfd.docker("logs", "--since", middle, cid)).splitlines()
        until = ok(wharfd.docker("logs", "--until", middle, cid)).splitlines()
        assert until + since == out and since[0] == out[len(out) // 2]
    finally:
        wharfd.docker("rm", "-f", cid)


@pytest.mark.parametrize("driver", ["json-file", "local"])
def test_follow_goes_on_across_rotations(wharfd, busybox, tmp_path, driver):
    """``logs -f`` sees every line across rotations: five batches of 1.5 kB (2.5 kB as JSON) into 4 kB
    files, each let go once the follower has shown the one before."""
    os.mkfifo(tmp_path / "go")
    batch = "i=0; while [ $i -lt 15 ]; do echo line-$b-$i-$(printf %090d 0); i=$((i+1)); done"
    cid = ok(wharfd.docker(
        "run", "-d", "--log-driver", driver, "--log-opt", "max-size=4k", "--log-opt", "max-file=2",
        "-v", f"{tmp_path}:/sync", busybox, "sh", "-c",
        # ``until``: a read that opened the FIFO as the last writer was closing gets EOF,
        # not the next "go" (the batch would run early and rotate lines away unseen)
        f"echo ready; for b in 0 1 2 3 4; do until read x </sync/go; do :; done; {batch}; done;"
        " echo last")).strip()
    try:
        follower = subprocess.Popen([DOCKER, "logs", "-f", cid], stdout=subprocess.PIPE,
                                    text=True, env=wharfd.env)
        # a failure fails, never hangs: the follower killed, our FIFO open let through
        watchdog = threading.Timer(120, lambda: (follower.kill(), os.open(
            tmp_path / "go", os.O_RDONLY | os.O_NONBLOCK)))
        watchdog.start()
        assert follower.stdout.readline() == "ready\n"
        for b in range(5):
            with open(tmp_path / "go", "w") as go:
                go.write("go\n")
            got = [follower.stdout.readline() for _ in range(15)]
            assert got == [f"line-{b}-{i}-{0:090d}\n" for i in range(15)]
        # (communicate() would skip what readline() buffered already)
        assert follower.stdout.read() == "last\n"
        assert follower.wait(timeout=60) == 0
        watchdog.cancel()
        log_files = [p for p in (wharfd.data_root / "containers" / cid).rglob("*") if ".log." in p.name]
        assert log_files, "the output never rotated"
    finally:
        wharfd.docker("rm", "-f", cid)


def test_none_driver_keeps_no_log_and_refuses_reading(wharfd, busybox):
    cid = ok(wharfd.docker("run", "-d", "--log-driver", "none", busybox, "echo", "hi")).strip()
    try:
        assert ok(wharfd.docker("wait", cid)).strip() == "0"
        r = wharfd.docker("logs", cid)
        assert r.returncode != 0
        assert "configured logging driver does not support reading" in r.stderr
        assert not [p for p in (wharfd.data_root / "containers" / cid).iterdir()
                    if "log" in p.name]
        # attached, the output still comes through, however soon the container exits
        for _ in range(5):
            assert ok(wharfd.docker("run", "--rm", "--log-driver", "none", busybox,
                                     "echo", "hi")) == "hi\n"
    finally:
        wharfd.docker("rm", "-f", cid)


@pytest.mark.parametrize("args,words", [
    (["--log-driver", "nosuch"], "logger: no log driver named 'nosuch' is registered"),
    (["--log-opt", "foo=bar"], "unknown log opt 'foo' for json-file log driver"),
    (["--log-driver", "local", "--log-opt", "foo=bar"], "unknown log opt 'foo' for log driver local"),
    (["--log-opt", "compress=true", "--log-opt", "max-file=2"],
     "compress cannot be true when max-file is less than 2 or max-size is not set"),
    (["--log-driver", "local", "--log-opt", "max-file=1"],
     "compression cannot be enabled when max file count is 1"),
    (["--log-opt", "max-size=0"], "max-size must be a positive number"),
])
def test_bad_log_config_refused_at_create(wharfd, busybox, args, words):
    r = wharfd.docker("create", *args, busybox, "true")
    assert r.returncode != 0 and words in r.stderr, r.stderr


def _recv_all(sock: socket.socket, count: int) -> list[bytes]:
    """``count`` datagrams (sent before the container's exit was told: already here)."""
    sock.settimeout(30)
    return [sock.recv(65536) for _ in range(count)]


def test_syslog_to_a_unix_socket_and_loopback_udp_and_tcp(wharfd, busybox, tmp_path):
    script = "echo out; echo err >&2"
    unix = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    tcp = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    with unix, udp, tcp:
        unix.bind(str(tmp_path / "log"))
        udp.bind(("127.0.0.1", 0))
        tcp.bind(("127.0.0.1", 0))
        tcp.listen(1)
        cid = ok(wharfd.docker("run", "-d", "--log-driver", "syslog", "--log-opt",
                                f"syslog-address=unix://{tmp_path}/log", "--log-opt", "tag=t-{{.Name}}",
                                "--name", "sysloggy", busybox, "sh", "-c", script)).strip()
        try:
            assert ok(wharfd.docker("wait", cid)).strip() == "0"
            got = sorted(_recv_all(unix, 2))  # (stdout and stderr are read apart)
            assert re.fullmatch(rb"<27>[A-Z][a-z]{2} [ 0-9]\d \d\d:\d\d:\d\d t-sysloggy\[\d+\]: err",
                                got[0]), got
            assert re.fullmatch(rb"<30>.* t-sysloggy\[\d+\]: out", got[1]), got
            r = wharfd.docker("logs", cid)
            assert r.returncode != 0
            assert "configured logging driver does not support reading" in r.stderr
        finally:
            wharfd.docker("rm", "-f", cid)

        port = udp.getsockname()[1]
        cid = ok(wharfd.docker("run", "-d", "--log-driver", "syslog", "--log-opt",
                                f"syslog-address=udp://127.0.0.1:{port}", "--log-opt",
                                "syslog-format=rfc5424", "--log-opt", "syslog-facility=local3",
                                busybox, "echo", "hi")).strip()
        try:
            assert ok(wharfd.docker("wait", cid)).strip() == "0"
            (got,) = _recv_all(udp, 1)
            assert re.fullmatch(rb"<158>1 \S+ \S+ (\w{12}) \d+ \1 - hi", got), got
            assert cid.startswith(re.match(rb".* (\w{12}) \d+ ", got).group(1).decode())
        finally:
            wharfd.docker("rm", "-f", cid)

        port = tcp.getsockname()[1]
        cid = ok(wharfd.docker("run", "-d", "--log-driver", "syslog", "--log-opt",
                                f"syslog-address=tcp://127.0.0.1:{port}", "--log-opt",
                                "syslog-format=rfc3164", busybox, "sh", "-c",
                                "echo one; echo two")).strip()
        try:
            conn, _ = tcp.accept()
            with conn:
                conn.settimeout(30)
                data = b""
                while data.count(b"\n") < 2:
                    chunk = conn.recv(65536)
                    assert chunk, data
                    data += chunk
            lines = data.splitlines()
            assert [line.rsplit(b": ", 1)[1] for line in lines] == [b"one", b"two"]
            assert all(re.match(rb"<30>\w{3} [ \d]\d \d\d:\d\d:\d\d \S+ \w{12}\[\d+\]: ", line)
                       for line in lines), lines
        finally:
            wharfd.docker("rm", "-f", cid)


@pytest.mark.parametrize("opt,words", [
    ("syslog-address=unix:///nonexistent/log", "stat /nonexistent/log: no such file or directory"),
    ("syslog-address=http://x", "unsupported scheme: 'http'"),
    ("syslog-facility=nope", "invalid syslog facility"),
    ("syslog-format=nope", "invalid syslog format"),
    ("max-size=1m", "unknown log opt 'max-size' for syslog log driver"),
])
def test_bad_syslog_options_refused_at_create(wharfd, busybox, opt, words):
    r = wharfd.docker("create", "--log-driver", "syslog", "--log-opt", opt, busybox, "true")
    assert r.returncode != 0 and words in r.stderr, r.stderr
