"""CRI's ImageService over the engine's image store (the Docker API's own).

Names are shown fully qualified (``docker.io/library/busybox:latest``), as
containerd shows them; pulls go through the engine's distribution service,
so registry mirrors and insecure registries apply as to ``docker pull``.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from wharf.cri.errors import answering
from wharf.cri.pb import api_pb2 as pb
from wharf.cri.pb import api_pb2_grpc as rpc
from wharf.engine.core import Engine
from wharf.engine.distribution import DistributionService
from wharf.errors import NotFound
from wharf.image import reference
from wharf.registry.client.auth import AuthConfig


class ImageService(rpc.ImageServiceServicer):
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.distribution = DistributionService(engine.config, engine.images, engine.events)

    async def pull(self, ref: str, auth: AuthConfig | None = None) -> str:
        """Pull ``ref`` (tag ``latest`` when it names none); the image's ID."""
        parsed = reference.parse(ref)
        await self.distribution.pull(str(parsed), "", "", auth or AuthConfig(), lambda _: None)
        return (await self.engine.images.get(str(parsed))).id

    async def _image(self, ref: str) -> pb.Image | None:
        try:
            record = await self.engine.images.get(ref)
        except NotFound:
            return None
        user = (record.config.get("config") or {}).get("User") or ""
        name = user.split(":", 1)[0]
        image = pb.Image(id=record.id, repo_tags=[_qualified(t) for t in record.repo_tags],
                         repo_digests=[_qualified(d) for d in record.repo_digests],
                         size=record.size, spec=pb.ImageSpec(image=record.id))
        if name.isdigit():
            image.uid.value = int(name)
        else:
            image.username = name
        return image

    @answering
    async def ListImages(self, request: pb.ListImagesRequest, context: Any) -> pb.ListImagesResponse:
        wanted = request.filter.image.image
        out = []
        for summary in await self.engine.images.list():
            image = await self._image(summary["Id"])
            if image is None:
                continue
            if wanted and not (wanted == image.id or _qualified(wanted) in image.repo_tags
                               or _qualified(wanted) in image.repo_digests):
                continue
            out.append(image)
        return pb.ListImagesResponse(images=out)

    @answering
    async def ImageStatus(self, request: pb.ImageStatusRequest,
                          context: Any) -> pb.ImageStatusResponse:
        image = await self._image(request.image.image)
        return pb.ImageStatusResponse(image=image) if image else pb.ImageStatusResponse()

    @answering
    async def PullImage(self, request: pb.PullImageRequest, context: Any) -> pb.PullImageResponse:
        a = request.auth
        auth = AuthConfig.from_json({"username": a.username, "password": a.password,
                                     "auth": a.auth, "serveraddress": a.server_address,
                                     "identitytoken": a.identity_token,
                                     "registrytoken": a.registry_token})
        return pb.PullImageResponse(image_ref=await self.pull(request.image.image, auth))

    @answering
    async def RemoveImage(self, request: pb.RemoveImageRequest,
                          context: Any) -> pb.RemoveImageResponse:
        try:
            record = await self.engine.images.get(request.image.image)
        except NotFound:
            return pb.RemoveImageResponse()
        try:
            await self.engine.images.delete(record.id, force=True,
                                            containers_using=self.engine.containers.using_image)
        except NotFound:  # a concurrent RemoveImage took it
            pass
        return pb.RemoveImageResponse()

    @answering
    async def ImageFsInfo(self, request: pb.ImageFsInfoRequest,
                          context: Any) -> pb.ImageFsInfoResponse:
        root = self.engine.config.image_dir
        used, inodes = await asyncio.to_thread(self.engine.images.store.layers.disk_usage)
        usage = pb.FilesystemUsage(timestamp=time.time_ns(), fs_id=pb.FilesystemIdentifier(mountpoint=root))
        usage.used_bytes.value = used
        usage.inodes_used.value = inodes
        return pb.ImageFsInfoResponse(image_filesystems=[usage])


def _qualified(ref: str) -> str:
    try:
        return str(reference.parse(ref))
    except Exception:
        return ref
