"""Docker's ``local`` log driver (moby ``daemon/logger/local``): its file format,
so a log written here reads as Docker's and the other way round.

Each message is a protobuf ``LogEntry`` (moby's ``logdriver/entry.proto``:
``source`` 1, ``time_nano`` 2, ``line`` 3 without its newline, ``partial`` 4,
``partial_log_metadata`` 5) framed by its size as a big-endian u32 before and
after it, so a reader can walk the file either way. Rotation is on by
default: 20 MB files, 5 of them, the rotated ones gzipped
(``wharf.runtime.logfile`` does the splitting, rotation and reading). A tail
walks back from the end by those trailing sizes (moby's tail reader), so
``logs --tail 10`` of a big log reads its last blocks only.

A record cut short by a full disk is cut off the file again (the framing
has no way to skip it), so the file stays readable.

Protobuf by hand (five fields), not the protobuf package: the shim host
imports this for every container, standard library only.
"""

from __future__ import annotations

import os
import struct
from typing import Callable, Iterator

from wharf.runtime import logfile
from wharf.runtime.logfile import Entry, Timestamps

#: moby's defaults for the local driver: max-size, max-file, compress
DEFAULT_MAX_SIZE = 20 * 1024 * 1024
DEFAULT_MAX_FILE = 5
DEFAULT_COMPRESS = True
#: a record bigger than this is taken for garbage (Docker's lines are 16 kB at most)
_MAX_RECORD = 1 << 20
_SIZE = struct.Struct(">I")
#: what a tail reads at least at a time, going back (then twice what it holds)
_BLOCK = 1 << 16


def _varint(n: int) -> bytes:
    out = bytearray()
    while n > 0x7F:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


def _field(tag: int, data: bytes) -> bytes:
    """A length-delimited field (wire type 2); empty ones are left out, as proto3's."""
    return bytes([tag << 3 | 2]) + _varint(len(data)) + data if data else b""


def encode(source: str, time_nano: int, line: bytes, partial: bool, ordinal: int = 0) -> bytes:
    """One framed record: size, ``LogEntry``, size."""
    body = _field(1, source.encode()) + b"\x10" + _varint(time_nano) + _field(3, line)
    if partial:
        meta = b"\x18" + _varint(ordinal) if ordinal else b""  # last (1) false, id (2) empty
        body += b"\x20\x01" + bytes([5 << 3 | 2]) + _varint(len(meta)) + meta
    size = _SIZE.pack(len(body))
    return size + body + size


def _fields(body: bytes) -> Iterator[tuple[int, int | bytes]]:
    """(field number, value) of a protobuf message: varints and length-delimited only."""
    pos = 0
    while pos < len(body):
        key, pos = _read_varint(body, pos)
        kind = key & 7
        if kind == 0:
            value, pos = _read_varint(body, pos)
            yield key >> 3, value
        elif kind == 2:
            size, pos = _read_varint(body, pos)
            yield key >> 3, body[pos:pos + size]
            pos += size
        else:
            raise ValueError(f"wire type {kind}")


def _read_varint(data: bytes, pos: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        byte = data[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if byte < 0x80:
            return value, pos
        shift += 7


class Writer(logfile.Writer):
    """The local driver's writer: ``logfile.Writer`` with framed ``LogEntry`` records."""

    TORN_END = b""

    def __init__(self, path: str, max_size: int | None = DEFAULT_MAX_SIZE,
                 max_file: int = DEFAULT_MAX_FILE,
                 compressor: Callable[[str], None] | None = None) -> None:
        super().__init__(path, max_size, max_file, compressor)
        self._ordinal: dict[str, int] = {}

    def _encode(self, stream: str, line: bytes, ns: int, partial: bool) -> bytes:
        if partial:
            ordinal = self._ordinal[stream] = self._ordinal.get(stream, 0) + 1
            return encode(stream, ns, line, True, ordinal)
        self._ordinal.pop(stream, None)
        return encode(stream, ns, line[:-1] if line.endswith(b"\n") else line, False)

    def _cut_short(self, start: int) -> None:
        """Cut the torn record off again: the framing cannot skip it."""
        try:
            os.ftruncate(self._fd, start)
            self._size = start
        except OSError:
            self._torn = True


class Framing:
    """local records for ``logfile.read``."""

    def __init__(self) -> None:
        self._stamps = Timestamps()

    def decode(self, body: bytes) -> Entry | None:
        source, ns, line, partial = "", 0, b"", False
        try:
            for number, value in _fields(body):
                if number == 1 and isinstance(value, bytes):
                    source = value.decode()
                elif number == 2 and isinstance(value, int):
                    ns = value
                elif number == 3 and isinstance(value, bytes):
                    line = value
                elif number == 4:
                    partial = bool(value)
        except (ValueError, IndexError, UnicodeDecodeError):
            return None
        return Entry(source, self._stamps.format(ns), line if partial else line + b"\n")

    @staticmethod
    def split(data: bytes) -> tuple[list[bytes], bytes]:
        records, pos = [], 0
        while len(data) - pos >= 8:
            (size,) = _SIZE.unpack_from(data, pos)
            if size > _MAX_RECORD:
                return records, b""  # not a record boundary: nothing further is readable
            end = pos + 4 + size
            if len(data) < end + 4:
                break
            if _SIZE.unpack_from(data, end)[0] == size:
                records.append(data[pos + 4:end])
            pos = end + 4
        return records, data[pos:]

    def records_before(self, fd: int, end: int, count: int | None) -> tuple[list[bytes], int]:
        """The last ``count`` records walked back from ``end``; all of them, or a file
        whose end is no whole record (a write under way, a foreign file), from the start."""
        if count is not None:
            tail = _Backwards(fd, end).records(count)
            if tail is not None:
                return tail, end
        data = _pread(fd, end, 0)
        records, rest = self.split(data)
        if count is not None:
            records = records[-count:] if count else []
        return records, len(data) - len(rest)


class _Backwards:
    """``[0, end)`` of a file read from its end, in blocks that double as they go."""

    def __init__(self, fd: int, end: int) -> None:
        self.fd, self.end = fd, end
        self.data, self.start = b"", end  # data is [start, end)

    def span(self, start: int, stop: int) -> bytes:
        if start < self.start:
            first = max(0, min(start, self.start - max(_BLOCK, len(self.data))))
            self.data = _pread(self.fd, self.start - first, first) + self.data
            self.start = first
        return self.data[start - self.start:stop - self.start]

    def records(self, count: int) -> list[bytes] | None:
        """The last ``count`` (or fewer) records, oldest first; None where a size
        before or after a record does not frame one."""
        found: list[bytes] = []
        pos = self.end
        while pos > 0 and len(found) < count:
            if pos < 8:
                return None
            (size,) = _SIZE.unpack(self.span(pos - 4, pos))
            start = pos - 8 - size
            if size > _MAX_RECORD or start < 0 or _SIZE.unpack(self.span(start, start + 4))[0] != size:
                return None
            found.append(self.span(start + 4, pos - 4))
            pos = start
        found.reverse()
        return found


def _pread(fd: int, size: int, offset: int) -> bytes:
    """``size`` bytes at ``offset``, fewer only at the end of the file."""
    chunks = []
    while size > 0 and (chunk := os.pread(fd, size, offset)):
        chunks.append(chunk)
        size -= len(chunk)
        offset += len(chunk)
    return b"".join(chunks)


def read(path: str, tail: int | None = None, since_ns: int | None = None,
         until_ns: int | None = None, follow: bool = False,
         stopped: Callable[[], bool] = lambda: True, poll: float = 0.1) -> Iterator[Entry]:
    """The local log's entries: ``logfile.read`` with this format."""
    return logfile.read(path, Framing(), tail, since_ns, until_ns, follow, stopped, poll)
