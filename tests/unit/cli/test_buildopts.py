"""``wharf build``'s BuildKit options as buildx spells them: --secret, --output, --build-context."""

from __future__ import annotations

import base64
import io
import json
import tarfile
from types import SimpleNamespace

import pytest

from wharf.api import build as api_build
from wharf.cli import buildopts
from wharf.cli.errors import CommandError


def test_secret_from_file_env_and_bare_id(tmp_path, monkeypatch):
    (tmp_path / "tok").write_bytes(b"file-value")
    assert buildopts.secret(f"id=a,src={tmp_path / 'tok'}") == ("a", b"file-value")
    monkeypatch.setenv("MY_TOKEN", "env-value")
    assert buildopts.secret("id=b,env=MY_TOKEN") == ("b", b"env-value")
    assert buildopts.secret("id=MY_TOKEN") == ("MY_TOKEN", b"env-value")
    assert buildopts.secret("type=env,id=c,src=MY_TOKEN") == ("c", b"env-value")
    with pytest.raises(CommandError, match="unexpected key 'colour'"):
        buildopts.secret("id=a,colour=red")
    with pytest.raises(CommandError, match="failed to read secret a: open /nonexistent: no such file"):
        buildopts.secret("id=a,src=/nonexistent")


def test_outputs():
    assert buildopts.output(None) is None
    assert buildopts.output(["out"]) == buildopts.Output("local", "out")
    assert buildopts.output(["-"]) == buildopts.Output("tar", "-")
    assert buildopts.output(["type=tar,dest=fs.tar"]) == buildopts.Output("tar", "fs.tar")
    assert buildopts.output(["type=docker"]) is None
    with pytest.raises(CommandError, match="dest is required for local exporter"):
        buildopts.output(["type=local"])
    with pytest.raises(CommandError, match="output type 'oci' is not supported"):
        buildopts.output(["type=oci,dest=x"])


def test_build_contexts_and_session_header(tmp_path):
    told, local = buildopts.build_contexts([f"src={tmp_path}", "base=docker-image://busybox:1"])
    assert told == {"src": "local", "base": "docker-image://busybox:1"} and local == {"src": str(tmp_path)}
    with pytest.raises(CommandError, match="unsupported build context"):
        buildopts.build_contexts(["x=https://example.com/repo.git"])
    (tmp_path / "tok").write_bytes(b"\x00secret\xff")
    args = SimpleNamespace(secret=[f"id=tok,src={tmp_path / 'tok'}"], ssh=[], allow=["network.host"])
    header = buildopts.session_header(args, told)
    doc = json.loads(base64.urlsafe_b64decode(header))
    assert doc["allow"] == ["network.host"] and doc["contexts"] == told
    # what the daemon reads back from the header (wharf.api.build.session), byte for byte
    lent = api_build.session(header)
    assert (lent.secrets, lent.allow, lent.contexts) == ({"tok": b"\x00secret\xff"}, ["network.host"], told)
    assert buildopts.session_header(SimpleNamespace(secret=[], ssh=[], allow=[]), {}) == ""


def _tar_client(members: list[tuple[tarfile.TarInfo, bytes]]):
    """A client whose rootfs answer is a tar of ``members``."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for info, data in members:
            tar.addfile(info, io.BytesIO(data) if data else None)
    body = io.BytesIO(buf.getvalue())

    class Resp:
        def read_some(self, n: int) -> bytes:
            return body.read(n)

    class Client:
        def request(self, *args, **kwargs):
            return Resp()
    return Client()


def test_output_local_never_links_outside_dest(tmp_path):
    """A hard link through a symlink that points out of DEST would tie a file of
    the host into the output: refused, as names outside are."""
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret").write_text("host")
    link = tarfile.TarInfo("up")
    link.type, link.linkname = tarfile.SYMTYPE, str(outside)
    hard = tarfile.TarInfo("stolen")
    hard.type, hard.linkname = tarfile.LNKTYPE, "up/secret"
    dest = tmp_path / "dest"
    with pytest.raises(CommandError, match="outside"):
        buildopts.export(_tar_client([(link, b""), (hard, b"")]), "x",
                         buildopts.output([f"type=local,dest={dest}"]))
    assert not (dest / "stolen").exists()
