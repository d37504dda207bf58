"""Layer extraction reads (and hashes) ahead on a thread: same diff ID, errors and stops as before."""

from __future__ import annotations

import hashlib
import io
import os
import threading
from pathlib import Path

import pytest
from zlib_ng import gzip_ng

from unit.image.image_tars import make_tar
from wharf.image.archive import extract_layer


class ConnectionError_(Exception):
    """What a download gives up with (not an OSError, which extraction words as its own)."""


def layer(files: dict[str, bytes]) -> bytes:
    return make_tar(*(("file", name, data) for name, data in files.items()))


def test_diff_id_and_content_of_a_gzip_layer(tmp_path: Path) -> None:
    files = {"big": os.urandom(5 << 20), "small": b"hello"}
    tar = layer(files)
    teed = bytearray()
    result = extract_layer(io.BytesIO(gzip_ng.compress(tar)), str(tmp_path), teed.extend)
    assert result.diff_id == "sha256:" + hashlib.sha256(tar).hexdigest() and bytes(teed) == tar
    assert {n: (tmp_path / n).read_bytes() for n in files} == files


def test_a_read_error_reaches_the_caller_and_no_thread_is_left(tmp_path: Path) -> None:
    tar = layer({"big": os.urandom(5 << 20)})

    class Broken(io.BytesIO):
        def read(self, n: int = -1) -> bytes:
            if self.tell() > 2 << 20:
                raise ConnectionError_("connection lost")
            return super().read(n)
    with pytest.raises(ConnectionError_, match="connection lost"):
        extract_layer(Broken(tar), str(tmp_path))
    assert not [t for t in threading.enumerate() if t.name == "wharf-layer-read"]


def test_a_refused_entry_stops_the_reading_ahead(tmp_path: Path) -> None:
    tar = layer({"../escape": b"x", **{f"f{i}": os.urandom(1 << 20) for i in range(16)}})
    with pytest.raises(Exception, match="path escapes the root"):
        extract_layer(io.BytesIO(tar), str(tmp_path))
    assert not [t for t in threading.enumerate() if t.name == "wharf-layer-read"]
