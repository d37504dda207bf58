"""Reading a tar stream in big chunks: headers parsed in place, file data handed on as slices.

``tarfile``'s stream mode copies every byte through several buffers in
small pieces under the GIL; for a layer or a build context (often a few
large files) that copying was most of the daemon's time. Here the source
hands over whatever it has (``read(n)`` may return fewer bytes, b"" at the
end), and a regular file's data goes to the consumer as memoryview slices of
those very chunks.

Headers are parsed by ``tarfile.TarInfo.frombuf``; pax ('x', 'g') and GNU
long-name ('L', 'K') records are applied as tarfile applies them, and each
entry gets tarfile's ``offset`` (its first header) and ``offset_data`` (its
data), what a tar-split recorder needs. GNU sparse files are not read here:
``SparseEntry`` hands the bytes of the entry's headers back so that a reader
that does them (tarfile) can go on from there. A stream that ends after an
entry without the end marker (the docker CLI's ``-f -`` context stops right
after the last file's data) ends cleanly; one that ends inside an entry is
an error.
"""

from __future__ import annotations

import tarfile
from typing import Callable, Iterator

from wharf.errors import InvalidParameter

BLOCK = 512
_ZERO_BLOCK = bytes(BLOCK)
_EXTENDED = (tarfile.XHDTYPE, tarfile.XGLTYPE, tarfile.GNUTYPE_LONGNAME, tarfile.GNUTYPE_LONGLINK)
_PAX_FIELDS = {"path": "name", "linkpath": "linkname", "uname": "uname", "gname": "gname"}
_PAX_NUMBERS = {"size": int, "uid": int, "gid": int, "mtime": float}

Entry = tuple[tarfile.TarInfo, Iterator[memoryview]]


class SparseEntry(InvalidParameter):
    """A GNU sparse file, which this reader does not unpack.

    ``replay``: the stream from the entry's first header on, as far as it was
    read; the rest is still in the source.
    """

    def __init__(self, name: str, replay: bytes) -> None:
        super().__init__(f'archive/tar: unsupported sparse file "{name}"')
        self.replay = replay


class TarChunks:
    """The entries of a tar read through ``read(n)``; ``head`` is data already read from it."""

    def __init__(self, read: Callable[[int], bytes], head: bytes = b"", chunk: int = 1 << 20) -> None:
        self._read, self._chunk = read, chunk
        self._buf = memoryview(head)
        self._pos = 0  # stream offset of the next byte handed out

    def _take(self, n: int) -> memoryview:
        """Up to ``n`` bytes, from the current chunk (reading one if it is used up); empty at the end."""
        if not self._buf:
            self._buf = memoryview(self._read(self._chunk))
        piece, self._buf = self._buf[:n], self._buf[n:]
        self._pos += len(piece)
        return piece

    def _exact(self, n: int, what: str, may_end: bool = False) -> bytes:
        """``n`` bytes; b"" when ``may_end`` and the stream ends before the first of them."""
        parts, got = [], 0
        while got < n:
            piece = self._take(n - got)
            if not piece:
                if got == 0 and may_end:
                    return b""
                raise InvalidParameter(f"archive/tar: unexpected EOF in {what}")
            parts.append(piece)
            got += len(piece)
        return b"".join(parts)

    def _data(self, size: int, name: str) -> Iterator[memoryview]:
        while size:
            piece = self._take(size)
            if not piece:
                raise InvalidParameter(f"archive/tar: unexpected EOF in the data of {name}")
            size -= len(piece)
            yield piece

    def _skip_padding(self, size: int) -> None:
        pad = -size % BLOCK
        while pad and (piece := self._take(pad)):
            pad -= len(piece)

    def entries(self) -> Iterator[Entry]:
        """Each entry with an iterator of its data; data the consumer leaves unread is skipped."""
        global_headers: dict[str, str] = {}
        while True:
            start = self._pos
            held: list[bytes] = []  # the entry's headers so far, for a SparseEntry
            pending: dict[str, str] = {}  # pax 'x' and GNU long names: for this entry only
            while True:
                block = self._exact(BLOCK, "a header", may_end=True)
                if not block or block == _ZERO_BLOCK:
                    return
                held.append(block)
                try:
                    info = tarfile.TarInfo.frombuf(block, "utf-8", "surrogateescape")
                except tarfile.TarError as e:
                    raise InvalidParameter(f"archive/tar: invalid tar header ({e})") from None
                if info.type not in _EXTENDED:
                    break
                payload = self._exact(info.size, "an extended header")
                held += [payload, self._exact(-info.size % BLOCK, "an extended header")]
                if info.type == tarfile.XGLTYPE:
                    global_headers.update(_pax_records(payload))
                elif info.type == tarfile.XHDTYPE:
                    pending.update(_pax_records(payload))
                else:
                    key = "path" if info.type == tarfile.GNUTYPE_LONGNAME else "linkpath"
                    pending[key] = payload.rstrip(b"\0").decode("utf-8", "surrogateescape")
            headers = {**global_headers, **pending}
            if info.type == tarfile.GNUTYPE_SPARSE or any(k.startswith("GNU.sparse") for k in headers):
                raise SparseEntry(headers.get("path", info.name), b"".join(held) + self._buf)
            _apply_pax(info, headers)
            info.offset, info.offset_data = start, self._pos
            has_data = info.isreg() or info.type not in tarfile.SUPPORTED_TYPES  # as tarfile decides
            data = self._data(info.size if has_data else 0, info.name)
            yield info, data
            for _ in data:
                pass
            if has_data:
                self._skip_padding(info.size)


def _pax_records(payload: bytes) -> dict[str, str]:
    """``"<len> <key>=<value>\\n"`` records."""
    records: dict[str, str] = {}
    pos = 0
    while pos < len(payload) and payload[pos:pos + 1] != b"\0":
        space = payload.find(b" ", pos)
        try:
            length = int(payload[pos:space]) if space > pos else 0
        except ValueError:
            length = 0
        record = payload[space + 1:pos + length]
        key, eq, value = record.partition(b"=")
        if length <= 0 or not eq or not record.endswith(b"\n"):
            raise InvalidParameter("archive/tar: invalid pax header")
        records[key.decode("utf-8", "surrogateescape")] = value[:-1].decode("utf-8", "surrogateescape")
        pos += length
    return records


def _apply_pax(info: tarfile.TarInfo, headers: dict[str, str]) -> None:
    for key, value in headers.items():
        if key in _PAX_FIELDS:
            setattr(info, _PAX_FIELDS[key], value)
        elif key in _PAX_NUMBERS:
            try:
                setattr(info, key, _PAX_NUMBERS[key](value))
            except ValueError:
                raise InvalidParameter(f"archive/tar: invalid pax {key} {value!r}") from None
    info.pax_headers = headers
