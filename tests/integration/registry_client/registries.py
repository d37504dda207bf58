"""Registries the registry-client tests talk to, all on 127.0.0.1 and a free port.

* ``wharf_registry``: wharf's own server (open, Basic or Bearer), from the
  registry server's test helpers.
* ``DistributionRegistry``: Debian's ``docker-registry`` (distribution 2.8)
  with its own config, storage and htpasswd.
* ``TLSRegistry``: wharf's registry app in this process, over TLS, asking
  clients for a certificate when given a CA (``--tls-ca``'s context).
* ``FakeRegistry``: a tiny in-process registry serving exactly the documents
  and blobs a test gives it, so a test can serve what no honest registry
  would (a blob whose bytes do not match its digest, a foreign-only index).
"""

from __future__ import annotations

import asyncio
import gzip
import hashlib
import io
import json
import shutil
import socket
import subprocess
import sys
import tarfile
import threading
import time
from pathlib import Path
from typing import Any, Callable, Iterator

import bcrypt
import zstandard
from aiohttp import web

from wharf.registry.server.app import ServerConfig, make_app
from wharf.registry.server.serve import server_context

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "registry"))
from regserver import RegistryServer, free_port  # noqa: E402,F401

USER, PASSWORD = "alice", "s3cret"


def write_htpasswd(path: Path) -> Path:
    path.write_text(f"{USER}:{bcrypt.hashpw(PASSWORD.encode(), bcrypt.gensalt(rounds=4)).decode()}\n")
    return path


def wharf_registry(tmp: Path, mode: str) -> RegistryServer:
    """wharf's registry in ``mode`` open, basic or bearer (the caller stops it)."""
    port = free_port()
    htpasswd = str(write_htpasswd(tmp / "htpasswd"))
    flags = {"open": [], "basic": ["--htpasswd", htpasswd],
             "bearer": ["--htpasswd", htpasswd, "--token-realm", f"http://127.0.0.1:{port}/token"]}[mode]
    return RegistryServer(tmp / f"registry-{mode}", *flags, port=port).start()


class DistributionRegistry(RegistryServer):
    """``docker-registry serve config.yml`` with htpasswd auth (or open: ``auth`` off);
    ``stop`` (inherited) reaps it."""

    def __init__(self, tmp: Path, auth: bool = True) -> None:
        super().__init__(tmp / "distribution" / "storage")
        self.dir = tmp / "distribution"
        self.dir.mkdir()
        self.config = self.dir / "config.yml"
        self.config.write_text(
            "version: 0.1\nlog:\n  level: warn\n"
            f"storage:\n  filesystem:\n    rootdirectory: {self.root}\n  delete:\n    enabled: true\n"
            f"http:\n  addr: {self.addr}\n")
        if auth:
            htpasswd = write_htpasswd(self.dir / "htpasswd")
            with open(self.config, "a") as f:
                f.write(f"auth:\n  htpasswd:\n    realm: wharf-test\n    path: {htpasswd}\n")

    def start(self) -> "DistributionRegistry":
        with open(self.dir / "registry.log", "wb") as log:
            self.proc = subprocess.Popen([shutil.which("docker-registry") or "docker-registry", "serve",
                                          str(self.config)], stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError((self.dir / "registry.log").read_text())
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    return self
            except OSError:
                time.sleep(0.05)
        self.stop()
        raise RuntimeError("docker-registry did not start")


def layer_tar(files: dict[str, bytes]) -> bytes:
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size, info.mode = len(data), 0o755
            tar.addfile(info, io.BytesIO(data))
    return raw.getvalue()


def digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


class _OnItsLoop:
    """A server on 127.0.0.1 and a free port, run by an event loop on a thread of its own:
    ``_start`` (on that loop) binds it, ``_finish`` closes it."""

    def __init__(self) -> None:
        self.port = free_port()
        self.addr = f"127.0.0.1:{self.port}"
        self._loop = asyncio.new_event_loop()
        ready = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(ready,), daemon=True)
        self._thread.start()
        ready.wait(10)

    def _run(self, ready: threading.Event) -> None:
        asyncio.set_event_loop(self._loop)
        self._loop.run_until_complete(self._start())
        ready.set()
        self._loop.run_forever()

    async def _start(self) -> None:
        raise NotImplementedError

    async def _finish(self) -> None:
        raise NotImplementedError

    def stop(self) -> None:
        asyncio.run_coroutine_threadsafe(self._finish(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()


class FakeRegistry(_OnItsLoop):
    """An open registry in a thread of the test process, serving ``manifests`` and ``blobs``.

    ``manifests`` maps a tag or digest to (media type, bytes); ``blobs`` a
    digest to bytes (which need not hash to it). ``hits`` counts requests,
    ``ranges`` the Range header of each blob GET. A bad network: the next
    ``drops`` blob answers longer than ``drop_at`` are cut after ``drop_at`` bytes of their body (the
    connection closed), and ``honour_range`` off answers every GET whole (200).
    Concurrency: layer answers wait until ``gather`` of them were under way at once (or
    5 s passed); ``most_at_once`` is the most that ever were.
    """

    def __init__(self) -> None:
        self.manifests: dict[str, tuple[str, bytes]] = {}
        self.blobs: dict[str, bytes] = {}
        self.hits: list[str] = []
        self.ranges: list[str | None] = []
        self.drops = 0
        self.drop_at = 0
        self.honour_range = True
        self.layers: set[str] = set()
        self.gather = 0
        self.most_at_once = 0
        self._at_once = 0
        super().__init__()

    def add_image(self, tag: str, files: dict[str, bytes] | list[dict[str, bytes]], corrupt: bool = False,
                  platform: tuple[str, str] = ("linux", "amd64"), compression: str = "gzip") -> str:
        """An image of one layer per dict of ``files``; ``corrupt`` serves other bytes than
        the last layer's digest names; ``compression`` gzip, zstd or none (each with its
        media type). Returns the last layer's digest."""
        tars = [layer_tar(f) for f in (files if isinstance(files, list) else [files])]
        descriptors = []
        for tar in tars:
            layer, layer_type = {
                "gzip": lambda: (gzip.compress(tar, mtime=0), "application/vnd.docker.image.rootfs.diff.tar.gzip"),
                "zstd": lambda: (zstandard.ZstdCompressor().compress(tar),
                                 "application/vnd.oci.image.layer.v1.tar+zstd"),
                "none": lambda: (tar, "application/vnd.oci.image.layer.v1.tar"),
            }[compression]()
            served = gzip.compress(tar + b"\0" * 1024, mtime=0) if corrupt and tar is tars[-1] else layer
            self.blobs[digest(layer)] = served
            self.layers.add(digest(layer))
            descriptors.append({"mediaType": layer_type, "size": len(served), "digest": digest(layer)})
        config = json.dumps({"architecture": platform[1], "os": platform[0], "config": {"Cmd": ["/bin/sh"]},
                             "rootfs": {"type": "layers", "diff_ids": [digest(t) for t in tars]}}).encode()
        self.blobs[digest(config)] = config
        manifest = json.dumps({
            "schemaVersion": 2, "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
            "config": {"mediaType": "application/vnd.docker.container.image.v1+json",
                       "size": len(config), "digest": digest(config)},
            "layers": descriptors}).encode()
        self.manifests[tag] = self.manifests[digest(manifest)] = (
            "application/vnd.docker.distribution.manifest.v2+json", manifest)
        return descriptors[-1]["digest"]

    def add_index(self, tag: str, platforms: list[tuple[str, str]]) -> None:
        """An OCI index of images for ``platforms`` (each a real image under its own tag)."""
        entries = []
        for os_, arch in platforms:
            self.add_image(f"{tag}-{os_}-{arch}", {"hello": arch.encode()}, platform=(os_, arch))
            media_type, data = self.manifests[f"{tag}-{os_}-{arch}"]
            entries.append({"mediaType": media_type, "digest": digest(data), "size": len(data),
                            "platform": {"os": os_, "architecture": arch}})
        index = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",
                            "manifests": entries}).encode()
        self.manifests[tag] = self.manifests[digest(index)] = ("application/vnd.oci.image.index.v1+json", index)

    async def _start(self) -> None:
        self._turn = asyncio.Condition()
        app = web.Application()
        app.router.add_get("/v2/", self._base)
        app.router.add_route("*", "/v2/{name:.+}/manifests/{ref}", self._manifest)
        app.router.add_route("*", "/v2/{name:.+}/blobs/{digest}", self._blob)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", self.port).start()

    async def _finish(self) -> None:
        await self._runner.cleanup()

    async def _base(self, request: web.Request) -> web.Response:
        return web.json_response({})

    async def _manifest(self, request: web.Request) -> web.Response:
        self.hits.append(request.path)
        found = self.manifests.get(request.match_info["ref"])
        if found is None:
            return web.json_response({"errors": [{"code": "MANIFEST_UNKNOWN", "message": "manifest unknown"}]},
                                     status=404)
        return web.Response(body=found[1], headers={"Content-Type": found[0]})

    async def _blob(self, request: web.Request) -> web.StreamResponse:
        self.hits.append(request.path)
        data = self.blobs.get(request.match_info["digest"])
        if data is None:
            return web.json_response({"errors": [{"code": "BLOB_UNKNOWN", "message": "blob unknown"}]}, status=404)
        self.ranges.append(request.headers.get("Range"))
        start = 0
        if self.honour_range and request.http_range.start:
            start = request.http_range.start
        if request.match_info["digest"] not in self.layers:
            return await self._send(request, data, start)
        async with self._turn:
            self._at_once += 1
            self.most_at_once = max(self.most_at_once, self._at_once)
            self._turn.notify_all()
            try:
                await asyncio.wait_for(self._turn.wait_for(lambda: self.most_at_once >= self.gather), 5)
            except asyncio.TimeoutError:
                pass
        try:
            return await self._send(request, data, start)
        finally:
            self._at_once -= 1

    async def _send(self, request: web.Request, data: bytes, start: int) -> web.StreamResponse:
        response = web.StreamResponse(status=206 if start else 200, headers={
            "Content-Type": "application/octet-stream", "Content-Length": str(len(data) - start),
            **({"Content-Range": f"bytes {start}-{len(data) - 1}/{len(data)}"} if start else {})})
        await response.prepare(request)
        if self.drops > 0 and len(data) - start > self.drop_at:
            self.drops -= 1
            await response.write(data[start:start + self.drop_at])
            assert request.transport is not None
            request.transport.close()  # the body ends short of its Content-Length
            return response
        await response.write(data[start:])
        await response.write_eof()
        return response


class CuttingProxy(_OnItsLoop):
    """A TCP proxy on 127.0.0.1 in front of ``port`` that closes the connection carrying the
    client's ``cut_after``-th byte (counted over all connections), ``cuts`` times: a network
    that drops an upload mid-body."""

    def __init__(self, port: int, cut_after: int, cuts: int = 1) -> None:
        self.target, self.cut_after, self.cuts = port, cut_after, cuts
        self.sent = 0
        super().__init__()

    async def _start(self) -> None:
        self._server = await asyncio.start_server(self._relay, "127.0.0.1", self.port)

    async def _finish(self) -> None:
        self._server.close()

    async def _relay(self, client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        server_r, server_w = await asyncio.open_connection("127.0.0.1", self.target)

        async def upstream() -> None:
            while data := await client_r.read(1 << 16):
                self.sent += len(data)
                if self.cuts and self.sent >= self.cut_after:
                    self.cuts -= 1
                    self.cut_after = self.sent + self.cut_after
                    break
                server_w.write(data)
                await server_w.drain()

        async def downstream() -> None:
            while data := await server_r.read(1 << 16):
                client_w.write(data)
                await client_w.drain()
        up, down = asyncio.ensure_future(upstream()), asyncio.ensure_future(downstream())
        await asyncio.wait([up, down], return_when=asyncio.FIRST_COMPLETED)
        for task in (up, down):
            task.cancel()
        for writer in (client_w, server_w):
            writer.close()



class TLSRegistry(_OnItsLoop):
    """wharf's open registry app storing under ``root``, serving ``server_context(cert, key,
    client_ca)`` on 127.0.0.1 (no subprocess: it starts as fast on a busy machine)."""

    def __init__(self, root: Path, cert: Path, key: Path, client_ca: Path | None = None) -> None:
        self.root, self.cert, self.key, self.client_ca = root, cert, key, client_ca
        super().__init__()

    async def _start(self) -> None:
        context = server_context(str(self.cert), str(self.key), str(self.client_ca) if self.client_ca else None)
        self._runner = web.AppRunner(make_app(ServerConfig(root=str(self.root))), access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", self.port, ssl_context=context).start()

    async def _finish(self) -> None:
        await self._runner.cleanup()


def serving(factory: Callable[[], Any]) -> Iterator[Any]:
    """Start what ``factory`` makes, hand it out, stop it after (fixture body)."""
    server = factory()
    try:
        yield server
    finally:
        server.stop()
