"""What Docker's file log drivers share (moby ``loggerutils.LogFile``): the
writer's line splitting, rotation and compression, and the reader across
the live file and its rotated (maybe gzipped) ones. A driver brings its
record format: ``encode`` on the writer's side, a ``Framing`` on the reader's
(``wharf.runtime.jsonlog`` for json-file, ``wharf.runtime.locallog`` for
local).

Output is split as Docker's log copier splits it: a complete line is one
message; a line longer than the buffer, or unterminated when the stream
ends, is written in pieces ("partial" messages).

Rotation is Docker's: before a write, a file that reached ``max-size`` is
renamed to ``.1`` (``.1`` to ``.2``, … up to ``.N-1``) and a new one
started; with ``max-file`` 1 the file is truncated instead. With
``compress`` the rotated files are ``.1.gz`` … and the new ``.1`` is gzipped
by a ``compressor`` the caller provides, which must not block (the shim runs
``compress_rotated`` in a forked helper and calls ``compressed()`` when it is
done); until then the live file is not rotated again, so no rotation renames
a file being compressed (Docker holds its rotation lock for as long). A
live file full while that lasts says so (``held``): the shim stops reading
the container's output meanwhile, as Docker's copier blocks on that lock,
so the log keeps to ``max-size`` and rotation drops the oldest lines.

A full disk never stops the writer (nor the container): a record the disk
refuses (ENOSPC, EDQUOT, EIO) is dropped and counted in ``dropped``, and the
next one is written once there is space again.

This module imports only the standard library and ``wharf.fsutil``: the shim
imports it for every container, and the daemon reads logs without a shim.
"""

from __future__ import annotations

import calendar
import os
import time
from typing import Callable, Iterator, NamedTuple, Protocol

from wharf.fsutil import disk_full

#: Docker's log copier buffer: a line longer than this is logged in pieces.
LINE_BUFFER = 16 * 1024


class Entry(NamedTuple):
    """One log record: ``stream`` "stdout"/"stderr", ``time`` RFC3339Nano as written
    (json-file) or made (local), ``data`` the bytes as ``docker logs`` shows them."""

    stream: str
    time: str
    data: bytes


class Timestamps:
    """RFC3339Nano UTC stamps; the date part is cached, as it changes once a second."""

    def __init__(self) -> None:
        self._sec = -1
        self._head = ""

    def format(self, ns: int) -> str:
        sec, frac = divmod(ns, 1_000_000_000)
        if sec != self._sec:
            self._sec = sec
            self._head = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(sec))
        digits = f"{frac:09d}".rstrip("0")
        return f"{self._head}.{digits}Z" if digits else f"{self._head}Z"


def parse_time(stamp: str) -> int:
    """Nanoseconds since the epoch of an RFC3339Nano stamp (``Z`` or ``±hh:mm`` zone)."""
    head, rest = stamp[:19], stamp[19:]
    frac = ""
    if rest.startswith("."):
        end = 1
        while end < len(rest) and rest[end].isdigit():
            end += 1
        frac, rest = rest[1:end], rest[end:]
    offset = 0
    if rest and rest != "Z":
        sign = -1 if rest[0] == "-" else 1
        offset = sign * (int(rest[1:3]) * 3600 + int(rest[4:6]) * 60)
    secs = calendar.timegm(time.strptime(head, "%Y-%m-%dT%H:%M:%S")) - offset
    return secs * 1_000_000_000 + int((frac + "000000000")[:9])


class Messages:
    """Docker's log copier: raw output chunks in, messages out (``_message``).

    ``write(stream, data)`` takes chunks as they come from the container's
    pipes; each stream keeps its own unfinished line until its newline comes,
    the buffer fills, or ``close()`` flushes it (as a partial message). Every
    piece of a long line carries the time of its first piece, as Docker's.
    """

    #: records a full disk (or a syslog that does not take them) made us drop
    dropped = 0

    def __init__(self) -> None:
        self._pending: dict[str, bytes] = {}
        self._partial_ns: dict[str, int] = {}

    def _message(self, stream: str, line: bytes, ns: int, partial: bool) -> None:
        """One message: ``line`` ends with its newline unless ``partial``."""
        raise NotImplementedError

    def write(self, stream: str, data: bytes) -> None:
        buf = self._pending.pop(stream, b"") + data
        start = 0
        while True:
            nl = buf.find(b"\n", start, start + LINE_BUFFER)
            if nl >= 0:
                self._entry(stream, buf[start:nl + 1])
                start = nl + 1
            elif len(buf) - start >= LINE_BUFFER:
                self._entry(stream, buf[start:start + LINE_BUFFER], partial=True)
                start += LINE_BUFFER
            else:
                break
        if start < len(buf):
            self._pending[stream] = buf[start:]

    def close(self) -> None:
        """Flush unterminated lines (as partial messages)."""
        for stream, rest in list(self._pending.items()):
            self._entry(stream, rest, partial=True)
        self._pending.clear()

    def compressed(self) -> None:
        """A rotated file's compressor is done (only file writers rotate)."""

    @property
    def held(self) -> bool:
        """Whether to take nothing more for now (a full file waiting for its rotation)."""
        return False

    def _entry(self, stream: str, line: bytes, partial: bool = False) -> None:
        now = self._partial_ns.pop(stream, None) or time.time_ns()
        if partial:
            self._partial_ns[stream] = now
        self._message(stream, line, now, partial)


class Writer(Messages):
    """Appends container output to a log file, message by message, with rotation.
    Subclasses give ``_encode``."""

    #: written before a record when the one before was cut short by a full disk
    TORN_END = b"\n"

    def __init__(self, path: str, max_size: int | None = None, max_file: int = 1,
                 compressor: Callable[[str], None] | None = None) -> None:
        super().__init__()
        self.path = path
        self.max_size = max_size
        self.max_file = max(1, max_file)
        self.compressor = compressor if self.max_file > 1 else None
        self.compressing = False  # a rotated file is being gzipped: rotation waits
        self._torn = False  # the last record was cut short: TORN_END ends it first
        self._fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o640)
        self._size = os.fstat(self._fd).st_size

    def _encode(self, stream: str, line: bytes, ns: int, partial: bool) -> bytes:
        raise NotImplementedError

    def close(self) -> None:
        """Flush unterminated lines (as partial entries) and close the file."""
        super().close()
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1

    def compressed(self) -> None:
        """The compressor is done with ``.1``: rotation may go on."""
        self.compressing = False

    @property
    def held(self) -> bool:
        """Full, and its rotation waits for the last rotated file's gzip."""
        return self.compressing and self.max_size is not None and self._size >= self.max_size

    def _message(self, stream: str, line: bytes, ns: int, partial: bool) -> None:
        record = self._encode(stream, line, ns, partial)
        if self._torn:
            record = self.TORN_END + record
        view = memoryview(record)
        try:
            if self._fd < 0:  # a rotation could not open the new file
                self._open()
            elif (self.max_size is not None and self._size >= self.max_size
                  and not self.compressing):
                self._rotate()
            start = self._size
            while view:
                written = os.write(self._fd, view)
                self._size += written
                view = view[written:]
            self._torn = False
        except OSError as e:
            if not disk_full(e):
                raise
            self.dropped += 1
            if len(view) < len(record):
                self._cut_short(start)

    def _cut_short(self, start: int) -> None:
        """A record was written in part from ``start`` on: TORN_END ends it before the next."""
        self._torn = True

    def _rotate(self) -> None:
        os.close(self._fd)
        self._fd = -1
        if self.max_file > 1:
            ext = ".gz" if self.compressor else ""
            for i in range(self.max_file - 1, 1, -1):
                _rename_quiet(f"{self.path}.{i - 1}{ext}", f"{self.path}.{i}{ext}")
            _rename_quiet(self.path, f"{self.path}.1")
        self._open()
        if self.compressor is not None:
            self.compressing = True
            self.compressor(f"{self.path}.1")

    def _open(self) -> None:
        """Start the live file afresh (a rotation): renamed away, or truncated with max-file 1."""
        self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_TRUNC
                           | os.O_CLOEXEC, 0o640)
        self._size = 0
        self._torn = False


def _rename_quiet(src: str, dst: str) -> None:
    try:
        os.rename(src, dst)
    except FileNotFoundError:
        pass


def compress_rotated(path: str) -> None:
    """``path`` gzipped into ``path.gz`` (whole before it shows), then removed: the
    compressor's job, blocking (run it where nothing waits on it). A disk too full
    for the copy leaves the file as it is."""
    import gzip
    import shutil
    tmp = f"{path}.gz.tmp"
    try:
        with open(path, "rb") as src, open(tmp, "wb") as raw, \
                gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=int(time.time())) as out:
            shutil.copyfileobj(src, out, 1 << 20)
        os.rename(tmp, f"{path}.gz")
        os.unlink(path)
    except OSError as e:
        if not disk_full(e) and not isinstance(e, FileNotFoundError):
            raise
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass


# -- reading -------------------------------------------------------------------

class Framing(Protocol):
    """A driver's record format, for the reader."""

    def records_before(self, fd: int, end: int, count: int | None) -> tuple[list[bytes], int]:
        """Whole records in ``[0, end)`` of ``fd`` (the last ``count`` if given) and
        the offset just past the last one."""

    def split(self, data: bytes) -> tuple[list[bytes], bytes]:
        """Whole records at the start of ``data``, and the rest."""

    def decode(self, record: bytes) -> Entry | None:
        """The entry, or None for a record that cannot be read (skipped)."""


def rotated_files(path: str) -> list[str]:
    """The rotated files of the log at ``path`` (``.N`` or ``.N.gz``), oldest first."""
    found = []
    i = 1
    while True:
        name = f"{path}.{i}"
        if os.path.exists(name):
            found.append(name)
        elif os.path.exists(f"{name}.gz"):
            found.append(f"{name}.gz")
        else:
            return found[::-1]
        i += 1


def _file_records(path: str, framing: Framing, count: int | None) -> list[bytes]:
    if not path.endswith(".gz"):
        try:
            fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
        except FileNotFoundError:  # compressed meanwhile
            path += ".gz"
        else:
            try:
                return framing.records_before(fd, os.fstat(fd).st_size, count)[0]
            finally:
                os.close(fd)
    import gzip
    try:
        with gzip.open(path, "rb") as f:
            records = framing.split(f.read())[0]
    except (FileNotFoundError, EOFError, gzip.BadGzipFile):
        return []
    if count is not None:
        records = records[-count:] if count else []
    return records


def read(path: str, framing: Framing, tail: int | None = None, since_ns: int | None = None,
         until_ns: int | None = None, follow: bool = False,
         stopped: Callable[[], bool] = lambda: True, poll: float = 0.1) -> Iterator[Entry]:
    """Entries of the log at ``path`` and its rotated files, oldest first.

    ``tail``: only the last N entries (None or negative: all). ``since_ns`` /
    ``until_ns``: keep entries at or after ``since_ns`` and before ``until_ns``
    (nanoseconds since the epoch), as ``docker logs`` does. ``follow``: then
    wait for new entries (across rotations) until ``stopped()`` is true, e.g.
    the container exited, and return once everything written before that is
    read. Blocking (it polls every ``poll`` seconds): async callers iterate it
    in a thread.
    """
    if tail is not None and tail < 0:
        tail = None
    try:
        live = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except FileNotFoundError:
        live = -1
    try:
        records, offset = (framing.records_before(live, os.fstat(live).st_size, tail)
                           if live >= 0 else ([], 0))
        for name in reversed(rotated_files(path)):
            if tail is not None and len(records) >= tail:
                break
            records = _file_records(name, framing,
                                    None if tail is None else tail - len(records)) + records
        stream: Iterator[bytes] = iter(records)
        if follow:
            stream = _chain(stream, _follow(path, framing, live, offset, stopped, poll))
            live = -1  # owned by _follow now
        for record in stream:
            entry = framing.decode(record)
            if entry is None:
                continue
            if since_ns is None and until_ns is None:
                yield entry
                continue
            t = parse_time(entry.time)
            if until_ns is not None and t >= until_ns:
                if follow:
                    return
                continue
            if since_ns is None or t >= since_ns:
                yield entry
    finally:
        if live >= 0:
            os.close(live)


def _chain(first: Iterator[bytes], then: Iterator[bytes]) -> Iterator[bytes]:
    yield from first
    yield from then


def _follow(path: str, framing: Framing, fd: int, offset: int, stopped: Callable[[], bool],
            poll: float) -> Iterator[bytes]:
    """Whole records appended to the live log from ``offset`` on; moves to the new
    file when the log is rotated, to its start when it is truncated."""
    pending = b""
    try:
        while True:
            done = stopped()  # asked before reading, so nothing written before it is missed
            if fd < 0:
                try:
                    fd, offset, pending = os.open(path, os.O_RDONLY | os.O_CLOEXEC), 0, b""
                except FileNotFoundError:
                    if done:
                        return
                    time.sleep(poll)
                    continue
            if os.fstat(fd).st_size < offset:  # truncated in place (max-file 1)
                offset, pending = 0, b""
            while chunk := os.pread(fd, 1 << 20, offset):
                offset += len(chunk)
                records, pending = framing.split(pending + chunk)
                yield from records
            if _rotated_away(fd, path):
                os.close(fd)
                fd = -1
                continue
            if done:
                return
            time.sleep(poll)
    finally:
        if fd >= 0:
            os.close(fd)


def _rotated_away(fd: int, path: str) -> bool:
    try:
        return os.stat(path).st_ino != os.fstat(fd).st_ino
    except FileNotFoundError:
        return True
