"""Rotation with compression, and the local driver's format, read back as ``docker logs`` reads them."""

from __future__ import annotations

import gzip
import os
import struct
from pathlib import Path

from wharf.runtime import jsonlog, locallog, logfile


def _compressing(writer_class, path: Path, **opts):
    """A writer whose compressor runs at once (the shim runs it in a helper)."""
    w = writer_class(str(path), compressor=lambda p: (logfile.compress_rotated(p), w.compressed()),
                     **opts)
    return w


def test_rotated_files_are_gzipped_and_read_back_in_order(tmp_path: Path) -> None:
    log = tmp_path / "c-json.log"
    w = _compressing(jsonlog.Writer, log, max_size=300, max_file=3)
    for i in range(100):
        w.write("stdout", b"%03d\n" % i)
    w.close()
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "c-json.log", "c-json.log.1.gz", "c-json.log.2.gz"]
    assert gzip.decompress((tmp_path / "c-json.log.1.gz").read_bytes()).startswith(b'{"log":')
    got = [e.data for e in jsonlog.read(str(log))]
    assert got == [b"%03d\n" % i for i in range(100 - len(got), 100)] and len(got) > 10
    assert [e.data for e in jsonlog.read(str(log), tail=12)] == got[-12:]


def test_rotation_waits_for_the_compression_under_way(tmp_path: Path) -> None:
    log = tmp_path / "c-json.log"
    pending: list[str] = []
    w = jsonlog.Writer(str(log), max_size=100, max_file=3, compressor=pending.append)
    assert not w.held
    for i in range(20):
        w.write("stdout", b"%03d\n" % i)
    assert pending == [f"{log}.1"]  # one rotation; the live file grew on meanwhile...
    assert w.held  # ...and says it is full: the shim stops reading the container
    assert [e.data for e in jsonlog.read(str(log))] == [b"%03d\n" % i for i in range(20)]
    logfile.compress_rotated(pending[0])  # done: readable compressed, and rotation goes on
    w.compressed()
    assert not w.held
    assert [e.data for e in jsonlog.read(str(log))] == [b"%03d\n" % i for i in range(20)]
    w.write("stdout", b"next\n")
    w.close()
    assert len(pending) == 2 and (tmp_path / "c-json.log.2.gz").exists()


def test_local_format_is_dockers_framed_logentry(tmp_path: Path) -> None:
    log = tmp_path / "container.log"
    w = locallog.Writer(str(log))
    w.write("stdout", b"hello\n")
    w.close()
    data = log.read_bytes()
    size = struct.unpack(">I", data[:4])[0]
    assert len(data) == size + 8 and data[-4:] == data[:4]
    body = data[4:-4]
    assert body.startswith(b"\x0a\x06stdout\x10") and body.endswith(b"\x1a\x05hello")


def test_local_reads_back_with_tail_since_partial_and_rotation(tmp_path: Path) -> None:
    log = tmp_path / "container.log"
    w = _compressing(locallog.Writer, log, max_size=500, max_file=4)
    for i in range(60):
        w.write("stderr" if i % 2 else "stdout", b"line %02d\n" % i)
    w.write("stdout", b"x" * 20000 + b"\n")
    w.close()
    assert (tmp_path / "container.log.1.gz").exists()
    entries = list(locallog.read(str(log)))
    assert [e.data for e in entries[-2:]] == [b"x" * 16384, b"x" * 3616 + b"\n"]
    assert entries[-3] == ("stderr", entries[-3].time, b"line 59\n")
    assert [e.data for e in locallog.read(str(log), tail=3)] == [e.data for e in entries[-3:]]
    since = logfile.parse_time(entries[-3].time)
    assert [e.data for e in locallog.read(str(log), since_ns=since)][0] == b"line 59\n"


def test_local_tail_of_a_big_log_reads_its_end(tmp_path: Path, monkeypatch) -> None:
    """``logs --tail 10`` of a 6 MiB local log: the last ten lines, walked back from the
    end (a few blocks read, not the file); a record still being written at the end (a
    half-written write) is no entry, and the tail is read from the start then."""
    log = tmp_path / "container.log"
    w = locallog.Writer(str(log), max_size=None)
    lines = [b"line %06d %s\n" % (i, b"x" * 40) for i in range(110_000)]
    for line in lines:
        w.write("stdout", line)
    w.close()
    assert log.stat().st_size > 6 << 20
    read: list[int] = []
    pread = os.pread
    monkeypatch.setattr(os, "pread", lambda fd, n, at: read.append(n) or pread(fd, n, at))
    assert [e.data for e in locallog.read(str(log), tail=10)] == lines[-10:]
    assert sum(read) < 1 << 20
    assert [e.data for e in locallog.read(str(log), tail=3000)] == lines[-3000:]
    assert list(locallog.read(str(log), tail=0)) == []
    whole = locallog.encode("stdout", 1, b"half", False)
    with open(log, "ab") as f:
        f.write(whole[:-3])
    assert [e.data for e in locallog.read(str(log), tail=2)] == lines[-2:]


def test_local_tail_longer_than_the_log_gives_all_of_it(tmp_path: Path) -> None:
    log = tmp_path / "container.log"
    w = locallog.Writer(str(log), max_size=None)
    for i in range(5):
        w.write("stdout", b"%d\n" % i)
    w.close()
    assert [e.data for e in locallog.read(str(log), tail=100)] == [b"%d\n" % i for i in range(5)]
