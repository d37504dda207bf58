"""The json-file log: Docker's exact line format, line splitting, rotation, and reading back."""

from __future__ import annotations

import json
import os
import threading
import time
from pathlib import Path

import pytest

from wharf.runtime import jsonlog, logfile


def write(path: Path, *chunks: tuple[str, bytes], **opts: int) -> None:
    w = jsonlog.Writer(str(path), **opts)
    for stream, data in chunks:
        w.write(stream, data)
    w.close()


def records(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_line_is_dockers_format_byte_for_byte(tmp_path: Path) -> None:
    log = tmp_path / "c-json.log"
    write(log, ("stdout", b'a <b> & "c" \\ \t\r\x7f \xff \xe2\x80\xa8 \xc3\xa9\n'))
    line = log.read_bytes()
    body, _, stamp = line.rpartition(b',"time":"')
    assert body == (b'{"log":"a \\u003cb\\u003e \\u0026 \\"c\\" \\\\ \\u0009\\r\x7f \\ufffd \\u2028 '
                    b'\xc3\xa9\\n","stream":"stdout"')
    assert stamp.endswith(b'Z"}\n')
    assert json.loads(line)["log"] == 'a <b> & "c" \\ \t\r\x7f \ufffd \u2028 é\n'


def test_time_is_rfc3339nano_utc_with_trailing_zeros_trimmed() -> None:
    stamps = logfile.Timestamps()
    assert stamps.format(1_700_000_000_120_000_000) == "2023-11-14T22:13:20.12Z"
    assert stamps.format(1_700_000_000_000_000_000) == "2023-11-14T22:13:20Z"
    assert logfile.parse_time("2023-11-14T22:13:20.12Z") == 1_700_000_000_120_000_000
    assert logfile.parse_time("2023-11-14T23:13:20.000000001+01:00") == 1_700_000_000_000_000_001
    assert jsonlog.fixed_time("2023-11-14T22:13:20.12Z") == "2023-11-14T22:13:20.120000000Z"
    assert jsonlog.fixed_time("2023-11-14T22:13:20Z") == "2023-11-14T22:13:20.000000000Z"


def test_output_is_split_into_lines_per_stream(tmp_path: Path) -> None:
    log = tmp_path / "c-json.log"
    write(log, ("stdout", b"one\ntw"), ("stderr", b"err\n"), ("stdout", b"o\nthree"))
    assert [(r["stream"], r["log"]) for r in records(log)] == [
        ("stdout", "one\n"), ("stderr", "err\n"), ("stdout", "two\n"), ("stdout", "three")]


def test_long_line_is_logged_in_16k_pieces_sharing_a_time(tmp_path: Path) -> None:
    log = tmp_path / "c-json.log"
    write(log, ("stdout", b"x" * 40000 + b"\n"))
    recs = records(log)
    assert [len(r["log"]) for r in recs] == [16384, 16384, 40000 - 32768 + 1]
    assert recs[0]["time"] == recs[1]["time"] == recs[2]["time"]
    assert "".join(r["log"] for r in recs) == "x" * 40000 + "\n"


def test_rotation_keeps_max_file_files(tmp_path: Path) -> None:
    log = tmp_path / "c-json.log"
    write(log, *[("stdout", b"line %03d\n" % i) for i in range(100)], max_size=500, max_file=3)
    assert sorted(os.listdir(tmp_path)) == ["c-json.log", "c-json.log.1", "c-json.log.2"]
    assert all(os.path.getsize(tmp_path / n) <= 500 + 100 for n in os.listdir(tmp_path))
    got = [e.data for e in jsonlog.read(str(log))]
    assert got == [b"line %03d\n" % i for i in range(100 - len(got), 100)]
    assert 10 < len(got) < 30


def test_max_file_one_truncates(tmp_path: Path) -> None:
    log = tmp_path / "c-json.log"
    write(log, *[("stdout", b"line %03d\n" % i) for i in range(50)], max_size=300, max_file=1)
    assert os.listdir(tmp_path) == ["c-json.log"]
    assert [e.data for e in jsonlog.read(str(log))][-1] == b"line 049\n"


def test_writer_appends_to_an_existing_log(tmp_path: Path) -> None:
    log = tmp_path / "c-json.log"
    write(log, ("stdout", b"first run\n"))
    write(log, ("stdout", b"second run\n"))
    assert [e.data for e in jsonlog.read(str(log))] == [b"first run\n", b"second run\n"]


def test_a_full_disk_drops_records_counts_them_and_logging_goes_on(tmp_path: Path) -> None:
    """ENOSPC never reaches the shim (it would kill the container's logging): the record
    is dropped and counted, and the next one lands once there is space."""
    log = tmp_path / "c-json.log"
    w = jsonlog.Writer(str(log))
    w.write("stdout", b"before\n")
    live = os.dup(w._fd)
    full = os.open("/dev/full", os.O_WRONLY)  # every write: ENOSPC, as on a full disk
    try:
        os.dup2(full, w._fd)
        w.write("stdout", b"lost 1\nlost 2\n")
        w.write("stderr", b"lost 3\n")
        assert w.dropped == 3
        os.dup2(live, w._fd)  # space again
    finally:
        os.close(full)
        os.close(live)
    w.write("stdout", b"after\n")
    w.close()
    assert [r["log"] for r in records(log)] == ["before\n", "after\n"]


def test_tail_across_rotated_files(tmp_path: Path) -> None:
    log = tmp_path / "c-json.log"
    write(log, *[("stdout", b"%d\n" % i) for i in range(200)], max_size=400, max_file=10)
    assert len(os.listdir(tmp_path)) > 3
    assert [e.data for e in jsonlog.read(str(log), tail=25)] == [b"%d\n" % i for i in range(175, 200)]
    assert list(jsonlog.read(str(log), tail=0)) == []
    assert list(jsonlog.read(str(log), tail=-1)) == list(jsonlog.read(str(log)))


def test_tail_of_a_big_file_reads_backwards(tmp_path: Path) -> None:
    log = tmp_path / "c-json.log"
    write(log, *[("stderr", b"%06d\n" % i) for i in range(20000)])
    assert [e.data for e in jsonlog.read(str(log), tail=3)] == [b"019997\n", b"019998\n", b"019999\n"]
    assert {e.stream for e in jsonlog.read(str(log), tail=3)} == {"stderr"}


def test_since_and_until(tmp_path: Path) -> None:
    log = tmp_path / "c-json.log"
    lines = [{"log": f"{i}\n", "stream": "stdout", "time": f"2023-11-14T22:13:2{i}.5Z"} for i in range(5)]
    log.write_text("".join(json.dumps(r) + "\n" for r in lines))
    base = 1_700_000_000_000_000_000
    since = base + 1_500_000_000  # exactly the time of line 1: included
    until = base + 3_500_000_000  # exactly the time of line 3: excluded
    got = [e.data for e in jsonlog.read(str(log), since_ns=since, until_ns=until)]
    assert got == [b"1\n", b"2\n"]


def test_torn_last_line_and_garbage_are_skipped(tmp_path: Path) -> None:
    log = tmp_path / "c-json.log"
    write(log, ("stdout", b"ok\n"))
    with open(log, "ab") as f:
        f.write(b"not json\n{\"log\":\"half")
    assert [e.data for e in jsonlog.read(str(log))] == [b"ok\n"]


def test_missing_log_reads_empty(tmp_path: Path) -> None:
    assert list(jsonlog.read(str(tmp_path / "none.log"))) == []


def follower(log: Path, stop: threading.Event) -> tuple[threading.Thread, list[bytes]]:
    """A thread following ``log`` until ``stop`` is set, collecting what it reads."""
    got: list[bytes] = []
    reader = threading.Thread(target=lambda: got.extend(
        e.data for e in jsonlog.read(str(log), follow=True, stopped=stop.is_set, poll=0.01)))
    reader.start()
    return reader, got


def test_follow_sees_new_lines_across_rotation_until_stopped(tmp_path: Path) -> None:
    log = tmp_path / "c-json.log"
    w = jsonlog.Writer(str(log), max_size=300, max_file=5)
    w.write("stdout", b"before\n")
    stop = threading.Event()
    reader, got = follower(log, stop)
    time.sleep(0.05)
    for i in range(30):
        w.write("stdout", b"after %d\n" % i)
        time.sleep(0.005)
    w.close()
    stop.set()
    reader.join(5)
    assert not reader.is_alive()
    assert got == [b"before\n"] + [b"after %d\n" % i for i in range(30)]


def test_follow_finishes_a_line_that_was_torn_when_it_started(tmp_path: Path) -> None:
    log = tmp_path / "c-json.log"
    full = b'{"log":"whole\\n","stream":"stdout","time":"2023-11-14T22:13:20Z"}\n'
    log.write_bytes(full[:20])
    stop = threading.Event()
    reader, got = follower(log, stop)
    time.sleep(0.05)
    with open(log, "ab") as f:
        f.write(full[20:])
    stop.set()
    reader.join(5)
    assert got == [b"whole\n"]


@pytest.mark.parametrize("text,size", [("100", 100), ("10k", 10240), ("1.5m", 1572864),
                                       ("2g", 2 << 30), ("10MB", 10 << 20)])
def test_parse_size(text: str, size: int) -> None:
    assert jsonlog.parse_size(text) == size


def test_parse_size_rejects_garbage() -> None:
    with pytest.raises(ValueError):
        jsonlog.parse_size("ten")
