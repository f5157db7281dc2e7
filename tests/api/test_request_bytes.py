"""Request bytes received at once are bounded on both surfaces (#15): before, 8 HTTP bodies of
139 MB each took 1.6 GB. A body or message reserves its size in one budget before it is read;
a call that finds no room within `request_bytes_wait_s` is refused UNAVAILABLE (HTTP 503) with
a retry delay, and one that does not arrive within `request_body_timeout_s` is ended."""

from __future__ import annotations

import asyncio

import aiohttp
import grpc
import pytest
from visionstudio.image.v1 import image_service_pb2 as pb
from visionstudio.server.api.http.models import API_PREFIX

from tests.support.harness import API_KEY, Harness, collect, rich_error
from tests.support.ports import LOOPBACK

GENERATE = f"{API_PREFIX}/image/generation/generate-image"
EDIT_RPC = "/visionstudio.image.v1.ImageService/EditImage"
BUSY = {"request_bytes_budget": 1024 * 1024, "request_bytes_wait_s": 0.3}


async def _half_sent_body(
    port: int, length: int
) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """A request whose headers promise `length` bytes of body, of which 10 are sent."""
    reader, writer = await asyncio.open_connection(LOOPBACK, port)
    writer.write(
        f"POST {GENERATE} HTTP/1.1\r\nHost: x\r\nX-API-Key: {API_KEY}\r\n"
        f'Content-Type: application/json\r\nContent-Length: {length}\r\n\r\n{{"prompt":'.encode()
    )
    await writer.drain()
    return reader, writer


async def _post(port: int, body: bytes) -> tuple[int, dict[str, object]]:
    async with (
        aiohttp.ClientSession() as http,
        http.post(
            f"http://{LOOPBACK}:{port}{GENERATE}", data=body, headers={"X-API-Key": API_KEY}
        ) as answer,
    ):
        return answer.status, await answer.json()


@pytest.mark.parametrize("harness", [BUSY], indirect=True)
async def test_http_bodies_beyond_the_budget_wait_then_are_refused_503(harness: Harness) -> None:
    port = harness.service.http_port
    _, holder = await _half_sent_body(port, 900_000)
    try:
        status, answer = await _post(port, b"{" + b" " * 300_000 + b"}")
        assert status == 503
        error = answer["error"]
        assert isinstance(error, dict) and error["reason"] == "REQUEST_BYTES_BUSY"
    finally:
        holder.transport.abort()
    # The holder gone, its bytes are given back: a body fits again (and is judged on its own).
    for _ in range(100):
        status, _ = await _post(port, b"{" + b" " * 300_000 + b"}")
        if status != 503:
            break
        await asyncio.sleep(0.05)
    assert status == 400


@pytest.mark.parametrize("harness", [{"request_body_timeout_s": 0.5}], indirect=True)
async def test_an_http_body_that_does_not_arrive_in_time_is_refused_408(harness: Harness) -> None:
    reader, writer = await _half_sent_body(harness.service.http_port, 1000)
    try:
        async with asyncio.timeout(30):  # bounded, not timed: before, it waited for good
            status_line = await reader.readline()
    finally:
        writer.transport.abort()
    assert status_line.split()[1] == b"408"


def _held_call(harness: Harness) -> grpc.aio.StreamStreamCall[bytes, bytes]:
    """An EditImage call whose message never comes: its reservation is held meanwhile."""
    raw: grpc.aio.StreamStreamMultiCallable[bytes, bytes] = harness.channel.stream_stream(EDIT_RPC)
    return raw(metadata=(("x-api-key", API_KEY),))


@pytest.mark.parametrize("harness", [{**BUSY, "max_message_bytes": 1024 * 1024}], indirect=True)
async def test_grpc_messages_beyond_the_budget_are_refused_unavailable(harness: Harness) -> None:
    held = _held_call(harness)
    await held.initial_metadata()  # the server took the call and reserved its message
    try:
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await collect(
                harness.stub.GenerateImage(
                    pb.GenerateImageRequest(prompt="a fox"), metadata=(("x-api-key", API_KEY),)
                )
            )
        assert refused.value.code() == grpc.StatusCode.UNAVAILABLE
        details = rich_error(refused.value)
        assert details["reason"] == "REQUEST_BYTES_BUSY" and isinstance(details["retry"], float)
    finally:
        held.cancel()
    for _ in range(100):
        try:
            await collect(
                harness.stub.GenerateImage(
                    pb.GenerateImageRequest(prompt="a fox"), metadata=(("x-api-key", API_KEY),)
                )
            )
            break
        except grpc.aio.AioRpcError as error:
            assert error.code() == grpc.StatusCode.UNAVAILABLE
            await asyncio.sleep(0.05)
    else:
        raise AssertionError("the cancelled call's reservation was never given back")


@pytest.mark.parametrize("harness", [{"request_body_timeout_s": 0.5}], indirect=True)
async def test_a_grpc_message_that_does_not_arrive_in_time_ends_the_call(
    harness: Harness,
) -> None:
    held = _held_call(harness)
    async with asyncio.timeout(30):
        code = await held.code()
    assert code == grpc.StatusCode.DEADLINE_EXCEEDED
    assert "did not arrive" in (await held.details() or "")
