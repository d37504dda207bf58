"""The CRI's gRPC server, on wharfd's event loop beside the Docker API.

``grpc.aio`` runs its handlers as coroutines on the loop the engine uses, so
they call the engine as the aiohttp routes do. Only ``wharf.daemon`` imports
this module: the CLI never loads grpc.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import grpc

from wharf.cri.images import ImageService
from wharf.cri.pb import api_pb2_grpc as rpc
from wharf.cri.runtime import RuntimeService
from wharf.cri.streaming import StreamServer
from wharf.engine.core import Engine


def socket_path(address: str) -> str:
    """``unix:///run/wharf/cri.sock`` or ``/run/wharf/cri.sock`` → the path."""
    return address.removeprefix("unix://")


class _AlsoAs:
    """A server as the generated ``add_*_to_server`` sees it, registering the same
    handlers under another package: ``runtime.v1alpha2`` (kubelets before 1.23) has
    v1's messages field for field, so v1's handlers serve it."""

    def __init__(self, server: grpc.aio.Server, old: str, new: str) -> None:
        self.server, self.old, self.new = server, old, new

    def add_generic_rpc_handlers(self, handlers: Any) -> None:
        pass  # the handlers are registered by name below

    def add_registered_method_handlers(self, service: str, handlers: dict[str, Any]) -> None:
        name = self.new + service.removeprefix(self.old)
        self.server.add_generic_rpc_handlers(
            (grpc.method_handlers_generic_handler(name, handlers),))


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
    for add, servicer in ((rpc.add_RuntimeServiceServicer_to_server, runtime),
                          (rpc.add_ImageServiceServicer_to_server, images)):
        add(servicer, server)
        add(servicer, _AlsoAs(server, "runtime.v1.", "runtime.v1alpha2."))
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
