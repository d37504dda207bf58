"""Docker's json-file log driver: the writer the shim feeds, the reader wharfd serves.

The file format is Docker's byte for byte, so tools that read Docker's
``*-json.log`` files read ours too: one JSON object per line,
``{"log":"...","stream":"stdout","time":"<RFC3339Nano UTC>"}``, with Go's
string escaping (``<``, ``>``, ``&`` and control characters as ``\\u00XX``,
invalid UTF-8 as ``\\ufffd``). Output is split on newlines like Docker's log
copier: a complete line carries its ``\\n``; a line longer than the buffer, or
unterminated when the stream ends, is written without one (a "partial" entry).
Splitting, rotation (``max-size``, ``max-file``, ``compress``), full-disk
drops and reading across rotated files are ``wharf.runtime.logfile``'s; a
record cut short by a full disk is ended by a newline before the next one,
so readers skip just that line.

This module imports only the standard library and ``wharf.runtime.logfile``:
the shim imports it for every container, and the daemon reads logs without a
shim.
"""

from __future__ import annotations

import json
import os
import re
from typing import Callable, Iterator

from wharf.runtime import logfile
from wharf.runtime.logfile import Entry, Timestamps

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


def fixed_time(stamp: str) -> str:
    """The stamp with nine fractional digits, as ``docker logs --timestamps`` prints it."""
    head, _, rest = stamp.partition(".")
    if not rest:
        return head[:19] + ".000000000" + head[19:]
    digits = rest.rstrip("Z")
    return f"{head}.{digits:0<9}Z" if rest.endswith("Z") else stamp


class Writer(logfile.Writer):
    """The json-file writer: ``logfile.Writer`` with Docker's JSON lines (a partial
    piece is written without a newline)."""

    def __init__(self, path: str, max_size: int | None = None, max_file: int = 1,
                 compressor: Callable[[str], None] | None = None) -> None:
        super().__init__(path, max_size, max_file, compressor)
        self._stamps = Timestamps()

    def _encode(self, stream: str, line: bytes, ns: int, partial: bool) -> bytes:
        return (b'{"log":' + encode_string(line) + b',"stream":"'
                + stream.encode() + b'","time":"' + self._stamps.format(ns).encode() + b'"}\n')


class Framing:
    """json-file records for ``logfile.read``: one JSON object per line."""

    @staticmethod
    def decode(line: bytes) -> Entry | None:
        try:
            rec = json.loads(line)
            return Entry(rec.get("stream", ""), rec["time"], rec.get("log", "").encode())
        except (ValueError, KeyError, TypeError, AttributeError):
            return None

    @staticmethod
    def split(data: bytes) -> tuple[list[bytes], bytes]:
        *lines, rest = data.split(b"\n")
        return lines, rest

    @staticmethod
    def records_before(fd: int, end: int, count: int | None) -> tuple[list[bytes], int]:
        """Reads backwards in blocks, so a tail of a big log costs only what it returns."""
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


def read(path: str, tail: int | None = None, since_ns: int | None = None,
         until_ns: int | None = None, follow: bool = False,
         stopped: Callable[[], bool] = lambda: True, poll: float = 0.1) -> Iterator[Entry]:
    """The json-file log's entries: ``logfile.read`` with this format."""
    return logfile.read(path, Framing(), tail, since_ns, until_ns, follow, stopped, poll)
