"""The CRI's gRPC server, on wharfd's event loop beside the Docker API.

``grpc.aio`` runs its handlers as coroutines on the loop the engine uses, so
they call the engine as the aiohttp routes do. Only ``wharf.daemon`` imports
this module: the CLI never loads grpc.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import grpc

from wharf.cri.images import ImageService
from wharf.cri.pb import api_pb2_grpc as rpc
from wharf.cri.runtime import RuntimeService
from wharf.cri.streaming import StreamServer
from wharf.engine.core import Engine


def socket_path(address: str) -> str:
    """``unix:///run/wharf/cri.sock`` or ``/run/wharf/cri.sock`` → the path."""
    return address.removeprefix("unix://")


@dataclass
class CRIServer:
    """The gRPC server and the streaming server it hands Exec/Attach URLs of."""

    grpc: grpc.aio.Server
    streams: StreamServer


async def start(engine: Engine, address: str) -> CRIServer:
    """Serve RuntimeService and ImageService on the unix socket ``address``."""
    path = socket_path(address)
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    try:
        os.unlink(path)  # a socket a killed daemon left
    except FileNotFoundError:
        pass
    server = grpc.aio.server(options=[("grpc.max_receive_message_length", 16 * 1024 * 1024),
                                      ("grpc.max_send_message_length", 40 * 1024 * 1024)])
    images = ImageService(engine)
    streams = StreamServer(engine)
    await streams.start()
    runtime = RuntimeService(engine, images.pull, streams)
    rpc.add_RuntimeServiceServicer_to_server(runtime, server)
    rpc.add_ImageServiceServicer_to_server(images, server)
    server.add_insecure_port("unix://" + path)
    await server.start()
    os.chmod(path, 0o660)
    await runtime.resume_logs()
    return CRIServer(server, streams)


async def stop(server: CRIServer, address: str) -> None:
    await server.grpc.stop(grace=1)
    await server.streams.stop()
    try:
        os.unlink(socket_path(address))
    except FileNotFoundError:
        pass
