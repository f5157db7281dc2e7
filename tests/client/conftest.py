"""A real grpc.aio server with the recording servicer, on a free loopback port."""

from collections.abc import AsyncIterator
from dataclasses import dataclass

import grpc
import pytest
from visionstudio.image.v1 import image_service_pb2_grpc as pb_grpc

from tests.client.servicer import RecordingServicer


@dataclass
class Server:
    target: str
    servicer: RecordingServicer


@pytest.fixture
async def server() -> AsyncIterator[Server]:
    servicer = RecordingServicer()  # type: ignore[abstract]
    aio_server = grpc.aio.server()
    pb_grpc.add_ImageServiceServicer_to_server(servicer, aio_server)
    port = aio_server.add_insecure_port("127.0.0.1:0")
    await aio_server.start()
    try:
        yield Server(f"127.0.0.1:{port}", servicer)
    finally:
        await aio_server.stop(None)
