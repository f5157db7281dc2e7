"""Who may call what: every RPC wants a key, image URLs a signature or a key, and health and
reflection neither."""

from __future__ import annotations

from collections.abc import AsyncIterable

import aiohttp
import grpc
import pytest
from grpc_health.v1 import health_pb2
from grpc_reflection.v1alpha import reflection_pb2
from visionstudio.image.v1 import image_service_pb2 as pb

from tests.fake_openai import FakeOpenAI
from tests.support.calls import rpc_error
from tests.support.harness import AUTH, Harness, collect, images_of


@pytest.mark.parametrize("metadata", [(), (("x-api-key", "wrong"),), (("x-api-key", ""),)])
async def test_every_rpc_refuses_a_missing_or_wrong_key(
    harness: Harness, upstream: FakeOpenAI, metadata: tuple[tuple[str, str], ...]
) -> None:
    calls: list[AsyncIterable[pb.ImageEvent]] = [
        harness.stub.GenerateImage(pb.GenerateImageRequest(prompt="a"), metadata=metadata),
        harness.stub.EditImage(
            pb.EditImageRequest(prompt="a", image_url="http://x"), metadata=metadata
        ),
        harness.stub.Inpaint(
            pb.InpaintRequest(prompt="a", image_url="http://x"), metadata=metadata
        ),
    ]
    for call in calls:
        assert (await rpc_error(collect(call))).code() == grpc.StatusCode.UNAUTHENTICATED
    assert upstream.requests == []


async def test_image_urls_need_a_valid_signature_or_key(harness: Harness) -> None:
    events = await collect(
        harness.stub.GenerateImage(pb.GenerateImageRequest(prompt="a tree"), metadata=AUTH)
    )
    (image,) = images_of(events)
    bare = image.url.split("?")[0]
    tampered = image.url[:-4] + ("0000" if not image.url.endswith("0000") else "1111")
    other = bare.replace(image.image_id, "A" * 22) + "?" + image.url.split("?")[1]
    async with aiohttp.ClientSession() as http:
        for url, headers, status in [
            (bare, {}, 401),
            (tampered, {}, 401),
            (other, {}, 401),
            (bare, {"X-API-Key": "wrong"}, 401),
            (bare, {"X-API-Key": AUTH[0][1]}, 200),
            (image.url, {}, 200),
        ]:
            async with http.get(url, headers=headers) as resp:
                assert resp.status == status, url
        health = f"http://127.0.0.1:{harness.service.http_port}/healthz"
        async with http.get(health) as resp:
            assert resp.status == 200


async def test_health_and_reflection_work_without_a_key(harness: Harness) -> None:
    check = harness.channel.unary_unary(
        "/grpc.health.v1.Health/Check",
        request_serializer=health_pb2.HealthCheckRequest.SerializeToString,
        response_deserializer=health_pb2.HealthCheckResponse.FromString,
    )
    answer = await check(
        health_pb2.HealthCheckRequest(service="visionstudio.image.v1.ImageService")
    )
    assert answer.status == health_pb2.HealthCheckResponse.SERVING
    info = harness.channel.stream_stream(
        "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo",
        request_serializer=reflection_pb2.ServerReflectionRequest.SerializeToString,
        response_deserializer=reflection_pb2.ServerReflectionResponse.FromString,
    )
    call = info(iter([reflection_pb2.ServerReflectionRequest(list_services="")]))
    async for response in call:
        names = {s.name for s in response.list_services_response.service}
        assert "visionstudio.image.v1.ImageService" in names
        break
