"""A registry server subprocess on 127.0.0.1 and a random free port, and a tiny image to push."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import signal
import socket
import subprocess
import sys
import tarfile
import time
from pathlib import Path

from wharf.cli.main import COMMANDS

#: until the CLI maps ``registry``, drive the command module through the same flag parser
_LAUNCH = """
import sys
from wharf.cli.commands import registry
from wharf.cli.errors import CommandError
from wharf.cli.flags import FlagSet
parser = FlagSet("wharf registry")
registry.add_arguments(parser)
try:
    sys.exit(registry.run(parser.parse_args(sys.argv[1:]), None))
except CommandError as err:
    sys.exit(f"{err.message}")
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class RegistryServer:
    """``wharf registry serve`` as a child process; ``stop`` (or ``kill``) always reaps it."""

    def __init__(self, root: Path, *flags: str, port: int | None = None) -> None:
        self.root, self.flags = root, flags
        self.port = port or free_port()
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def addr(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self) -> "RegistryServer":
        args = ["serve", "--addr", self.addr, "--root", str(self.root), *self.flags]
        if "registry" in COMMANDS:
            argv = [sys.executable, "-m", "wharf.cli.main", "registry", *args]
        else:
            argv = [sys.executable, "-c", _LAUNCH, *args]
        # a file, not a pipe: a server that logs much must never block on a full pipe
        self.log = self.root.parent / f"registry-{self.port}.log"
        with open(self.log, "wb") as log:
            self.proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=log)
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            if "listening on" in self.log.read_text():
                return self
            if self.proc.poll() is not None:
                raise RuntimeError(f"registry exited {self.proc.returncode}: {self.log.read_text()}")
            time.sleep(0.05)
        self.stop()
        raise RuntimeError("registry did not start listening")

    def kill(self) -> None:
        """``kill -9``: no cleanup of any kind runs in the server."""
        if self.proc is not None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait()
            self.proc = None

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
            self.proc = None


def write_dir_image(path: Path, payload: bytes, name: str = "hello") -> dict[str, str]:
    """A ``dir:`` image (skopeo's directory transport) of one gzip layer holding ``/name``."""
    path.mkdir(parents=True)
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w") as tar:
        info = tarfile.TarInfo(name)
        info.size = len(payload)
        tar.addfile(info, io.BytesIO(payload))
    layer = gzip.compress(raw.getvalue(), mtime=0)
    config = json.dumps({"architecture": "amd64", "os": "linux", "config": {"Cmd": [f"/{name}"]},
                         "rootfs": {"type": "layers",
                                    "diff_ids": ["sha256:" + hashlib.sha256(raw.getvalue()).hexdigest()]}}
                        ).encode()
    digests = {}
    for kind, data in (("layer", layer), ("config", config)):
        hexdigest = hashlib.sha256(data).hexdigest()
        (path / hexdigest).write_bytes(data)
        digests[kind] = f"sha256:{hexdigest}"
    manifest = {"schemaVersion": 2, "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
                "config": {"mediaType": "application/vnd.docker.container.image.v1+json",
                           "size": len(config), "digest": digests["config"]},
                "layers": [{"mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip",
                            "size": len(layer), "digest": digests["layer"]}]}
    (path / "manifest.json").write_text(json.dumps(manifest))
    (path / "version").write_text("Directory Transport Version: 1.1\n")
    return digests
