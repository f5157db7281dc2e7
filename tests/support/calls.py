"""Reading an ImageService call: its acceptance, or the error it was meant to end in."""

from __future__ import annotations

from collections.abc import AsyncIterable, Awaitable
from typing import Any

import grpc
import pytest
from visionstudio.image.v1 import image_service_pb2 as pb
from visionstudio.image.v1 import image_service_pb2_grpc as pb_grpc

from tests.support.harness import AUTH, collect, rich_error


async def rpc_error(outcome: Awaitable[object]) -> grpc.aio.AioRpcError:
    """The error `outcome` raises; the test fails if it completes."""
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await outcome
    return caught.value


async def invalid_argument(call: AsyncIterable[pb.ImageEvent], field: str) -> grpc.aio.AioRpcError:
    """The call's error, which must be INVALID_ARGUMENT naming `field` alone as the bad one."""
    err = await rpc_error(collect(call))
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT, (err.code(), err.details())
    assert rich_error(err)["fields"] == [field]
    return err


async def accepted_job(call: grpc.aio.UnaryStreamCall[Any, pb.ImageEvent]) -> str:
    """Reads a call's first event, which must be its acceptance, and returns the job's id."""
    first = await call.read()
    assert isinstance(first, pb.ImageEvent) and first.WhichOneof("event") == "accepted", first
    return first.accepted.job_id


async def generating(
    stub: pb_grpc.ImageServiceAsyncStub, prompt: str, **fields: Any
) -> tuple[grpc.aio.UnaryStreamCall[Any, pb.ImageEvent], str]:
    """A GenerateImage call left running once its acceptance is read: (the call, the job's id)."""
    request = pb.GenerateImageRequest(prompt=prompt, **fields)
    call = stub.GenerateImage(request, metadata=AUTH)
    return call, await accepted_job(call)
