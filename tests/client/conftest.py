"""A real grpc.aio server with the recording servicer, on a free loopback port."""

from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest

from tests.client.servicer import RecordingServicer, serving


@dataclass
class Server:
    target: str
    servicer: RecordingServicer


@pytest.fixture
async def server() -> AsyncIterator[Server]:
    servicer = RecordingServicer()  # type: ignore[abstract]
    async with serving(servicer) as target:
        yield Server(target, servicer)
