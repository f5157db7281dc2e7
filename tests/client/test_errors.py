"""describe_error: one readable line from a failed call's status and rich details."""

import grpc
import pytest
from visionstudio.client import AsyncImageClient, describe_error

from tests.client.conftest import Server
from tests.client.servicer import EXPECTED_ERROR, REJECTED_PROMPT
from tests.support.harness import collect


async def test_describe_error_decodes_the_rich_status(server: Server) -> None:
    async with AsyncImageClient(server.target, "key-1") as client:
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await collect(client.generate(REJECTED_PROMPT))

    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert describe_error(caught.value) == EXPECTED_ERROR


async def test_describe_error_without_details_and_without_key(server: Server) -> None:
    async with AsyncImageClient(server.target) as client:
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await collect(client.generate("a cat"))

    assert describe_error(caught.value) == "UNAUTHENTICATED: missing x-api-key"


def test_describe_error_of_an_error_without_a_call() -> None:
    assert describe_error(grpc.RpcError("channel closed")) == "channel closed"
