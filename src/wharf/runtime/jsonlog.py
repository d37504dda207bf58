"""Docker's json-file log driver: the writer the shim feeds, the reader wharfd serves.

The file format is Docker's byte for byte, so tools that read Docker's
``*-json.log`` files read ours too: one JSON object per line,
``{"log":"...","stream":"stdout","time":"<RFC3339Nano UTC>"}``, with Go's
string escaping (``<``, ``>``, ``&`` and control characters as ``\\u00XX``,
invalid UTF-8 as ``\\ufffd``). Output is split on newlines like Docker's log
copier: a complete line carries its ``\\n``; a line longer than the buffer, or
unterminated when the stream ends, is written without one (a "partial" entry).

Rotation is Docker's too: before a write, a file that reached ``max-size`` is
renamed to ``.1`` (``.1`` to ``.2``, … up to ``.N-1``) and a new one started;
with ``max-file`` 1 the file is truncated instead.

A full disk never stops the writer (nor the container): a record the disk
refuses (ENOSPC, EDQUOT, EIO) is dropped and counted in ``dropped``, and the
next one is written once there is space again. A record cut short by the full
disk is ended by a newline before the next one, so readers skip just that line.

This module imports only the standard library and ``wharf.fsutil``: the shim
imports it for every container, and the daemon reads logs without a shim.
"""

from __future__ import annotations

import calendar
import json
import os
import re
import time
from typing import Callable, Iterator, NamedTuple

from wharf.fsutil import disk_full

#: Docker's log copier buffer: a line longer than this is logged in pieces.
LINE_BUFFER = 16 * 1024

_SIZE_RE = re.compile(r"^(\d+(?:\.\d+)?) ?([kmgtp])?i?b?$", re.IGNORECASE)
_NEEDS_ESCAPE = re.compile(rb'[\x00-\x1f"\\<>&\x80-\xff]')
_ESCAPED = re.compile('[\x00-\x1f"\\\\<>&\u2028\u2029\udc80-\udcff]')
_SHORT = {'"': '\\"', "\\": "\\\\", "\n": "\\n", "\r": "\\r"}


def parse_size(value: str) -> int:
    """Bytes in a ``max-size`` option ("10m", "1.5k", "100"): binary units, like Docker's RAMInBytes."""
    m = _SIZE_RE.match(value.strip())
    if not m:
        raise ValueError(f"invalid size: '{value}'")
    unit = "bkmgtp".index((m.group(2) or "b").lower())
    return int(float(m.group(1)) * 1024 ** unit)


def _escape(m: re.Match[str]) -> str:
    ch = m.group()
    if "\udc80" <= ch <= "\udcff":  # an invalid UTF-8 byte (surrogateescape)
        return "\\ufffd"
    return _SHORT.get(ch) or f"\\u{ord(ch):04x}"


def encode_string(data: bytes) -> bytes:
    """``data`` as a JSON string, escaped exactly as Docker's json-file encoder does."""
    if not _NEEDS_ESCAPE.search(data):
        return b'"' + data + b'"'
    text = _ESCAPED.sub(_escape, data.decode("utf-8", "surrogateescape"))
    return b'"' + text.encode() + b'"'


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


def fixed_time(stamp: str) -> str:
    """The stamp with nine fractional digits, as ``docker logs --timestamps`` prints it."""
    head, _, rest = stamp.partition(".")
    if not rest:
        return head[:19] + ".000000000" + head[19:]
    digits = rest.rstrip("Z")
    return f"{head}.{digits:0<9}Z" if rest.endswith("Z") else stamp


class Writer:
    """Appends container output to a json-file log, line by line, with rotation.

    ``write(stream, data)`` takes raw chunks as they come from the container's
    pipes; each stream keeps its own unfinished line until its newline comes,
    the buffer fills, or ``close()`` flushes it.
    """

    def __init__(self, path: str, max_size: int | None = None, max_file: int = 1) -> None:
        self.path = path
        self.max_size = max_size
        self.max_file = max(1, max_file)
        self._pending: dict[str, bytes] = {}
        self._partial_ns: dict[str, int] = {}
        self._stamps = Timestamps()
        #: records the disk refused (full), dropped rather than blocking the container
        self.dropped = 0
        self._torn = False  # the last record was cut short: a newline ends it first
        self._fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o640)
        self._size = os.fstat(self._fd).st_size

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
        """Flush unterminated lines (as partial entries) and close the file."""
        for stream, rest in list(self._pending.items()):
            self._entry(stream, rest, partial=True)
        self._pending.clear()
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1

    def _entry(self, stream: str, line: bytes, partial: bool = False) -> None:
        # Docker stamps every piece of a long line with the time of its first piece.
        now = self._partial_ns.pop(stream, None) or time.time_ns()
        if partial:
            self._partial_ns[stream] = now
        record = (b'{"log":' + encode_string(line) + b',"stream":"'
                  + stream.encode() + b'","time":"' + self._stamps.format(now).encode() + b'"}\n')
        if self._torn:
            record = b"\n" + record
        view = memoryview(record)
        try:
            if self._fd < 0:  # a rotation could not open the new file
                self._open()
            elif self.max_size is not None and self._size >= self.max_size:
                self._rotate()
            while view:
                written = os.write(self._fd, view)
                self._size += written
                view = view[written:]
            self._torn = False
        except OSError as e:
            if not disk_full(e):
                raise
            self.dropped += 1
            self._torn = self._torn or len(view) < len(record)

    def _rotate(self) -> None:
        os.close(self._fd)
        self._fd = -1
        if self.max_file > 1:
            for i in range(self.max_file - 1, 1, -1):
                _rename_quiet(f"{self.path}.{i - 1}", f"{self.path}.{i}")
            _rename_quiet(self.path, f"{self.path}.1")
        self._open()

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


class Entry(NamedTuple):
    """One log record: ``stream`` "stdout"/"stderr", ``time`` as written, ``data`` the bytes."""

    stream: str
    time: str
    data: bytes


def _decode(line: bytes) -> Entry | None:
    try:
        rec = json.loads(line)
        return Entry(rec.get("stream", ""), rec["time"], rec.get("log", "").encode())
    except (ValueError, KeyError, TypeError, AttributeError):
        return None


def rotated_files(path: str) -> list[str]:
    """The rotated files of the log at ``path``, oldest first."""
    found = []
    i = 1
    while os.path.exists(f"{path}.{i}"):
        found.append(f"{path}.{i}")
        i += 1
    return found[::-1]


def _lines_before(fd: int, end: int, count: int | None) -> tuple[list[bytes], int]:
    """Whole lines in ``[0, end)`` of ``fd`` (only the last ``count`` if given) and
    the offset just past the last one. Reads backwards in blocks, so a tail of a
    big log costs only what it returns."""
    chunks: list[bytes] = []
    newlines, pos = 0, end
    while pos > 0 and (count is None or newlines <= count):
        step = min(1 << 16, pos)
        pos -= step
        chunk = os.pread(fd, step, pos)
        chunks.append(chunk)
        newlines += chunk.count(b"\n")
    block = b"".join(reversed(chunks))
    complete = block.rfind(b"\n") + 1
    lines = block[:complete].splitlines()
    if pos > 0:
        lines = lines[1:]  # cut by the block boundary
    if count is not None:
        lines = lines[-count:] if count else []
    return lines, pos + complete


def _file_lines(path: str, count: int | None) -> list[bytes]:
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except FileNotFoundError:
        return []
    try:
        return _lines_before(fd, os.fstat(fd).st_size, count)[0]
    finally:
        os.close(fd)


def read(path: str, tail: int | None = None, since_ns: int | None = None,
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
        lines, offset = _lines_before(live, os.fstat(live).st_size, tail) if live >= 0 else ([], 0)
        for name in reversed(rotated_files(path)):
            if tail is not None and len(lines) >= tail:
                break
            lines = _file_lines(name, None if tail is None else tail - len(lines)) + lines
        stream: Iterator[bytes] = iter(lines)
        if follow:
            stream = _chain(stream, _follow(path, live, offset, stopped, poll))
            live = -1  # owned by _follow now
        for line in stream:
            entry = _decode(line)
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


def _follow(path: str, fd: int, offset: int, stopped: Callable[[], bool],
            poll: float) -> Iterator[bytes]:
    """Whole lines appended to the live log from ``offset`` on; moves to the new
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
                *lines, pending = (pending + chunk).split(b"\n")
                yield from lines
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
