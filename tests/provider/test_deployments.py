"""Several deployments from a providers file: images spread over them, a failed one is
skipped, and a file that cannot work is refused at start with what to fix."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import grpc
import pytest
from visionstudio.client import MAX_MESSAGE_BYTES
from visionstudio.image.v1 import image_service_pb2 as pb
from visionstudio.image.v1 import image_service_pb2_grpc as pb_grpc
from visionstudio.server.assembly import RunningService, start
from visionstudio.server.core import StartupError

from tests.fake_openai import FakeOpenAI, FakeOpenAIConfig
from tests.support.harness import API_KEY, AUTH, UPSTREAM_KEY, collect, images_of
from tests.support.loopback import loopback_settings

CALLS = 32


def _providers_file(path: Path, upstreams: list[FakeOpenAI], models: list[str]) -> Path:
    tables = [
        f'[[deployment]]\nname = "up-{i}"\nkind = "openai"\nbase_url = "{up.base_url}"\n'
        f'api_key_env = "UPSTREAM_{i}_KEY"\nmodel = "{model}"\n'
        for i, (up, model) in enumerate(zip(upstreams, models, strict=True))
    ]
    path.write_text("\n".join(tables))
    return path


@pytest.fixture
async def upstreams() -> AsyncIterator[list[FakeOpenAI]]:
    """Two accounts, each admitting 8 images per 2 s."""
    fakes = [
        FakeOpenAI(
            FakeOpenAIConfig(
                api_key=UPSTREAM_KEY, rate_limit_images_per_minute=8, rate_limit_window_s=2.0
            )
        )
        for _ in range(2)
    ]
    for fake in fakes:
        await fake.start()
    try:
        yield fakes
    finally:
        for fake in fakes:
            await fake.stop()


async def _start(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, upstreams: list[FakeOpenAI], models: list[str]
) -> RunningService:
    for i in range(len(upstreams)):
        monkeypatch.setenv(f"UPSTREAM_{i}_KEY", UPSTREAM_KEY)
    settings = loopback_settings(
        "http://127.0.0.1:9/v1",  # never used: the file names every deployment
        tmp_path / "data",
        monkeypatch,
        providers_file=_providers_file(tmp_path / "providers.toml", upstreams, models),
        upstream_backoff_initial_s=0.01,
        upstream_backoff_max_s=0.05,
    )
    return await start(settings, [API_KEY])


async def _burst(service: RunningService, calls: int) -> list[int]:
    async with grpc.aio.insecure_channel(
        f"127.0.0.1:{service.grpc_port}",
        options=[("grpc.max_receive_message_length", MAX_MESSAGE_BYTES)],
    ) as channel:
        stub = pb_grpc.ImageServiceStub(channel)

        async def one(i: int) -> int:
            call = stub.GenerateImage(pb.GenerateImageRequest(prompt=f"p{i}"), metadata=AUTH)
            return len(images_of(await collect(call)))

        return await asyncio.gather(*(one(i) for i in range(calls)))


async def test_images_spread_over_the_deployments(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, upstreams: list[FakeOpenAI]
) -> None:
    service = await _start(tmp_path, monkeypatch, upstreams, ["gpt-image-2"] * 2)
    try:
        assert await _burst(service, CALLS) == [1] * CALLS
    finally:
        await service.stop(0)
    served = [fake.served_images for fake in upstreams]
    assert sum(served) == CALLS and min(served) >= CALLS // 4  # both did a fair part
    metrics = service.core.metrics.registry
    for i in range(2):
        ok = metrics.get_sample_value(
            "visionstudio_upstream_requests_total", {"outcome": "ok", "deployment": f"up-{i}"}
        )
        assert ok == served[i]


async def test_with_one_deployment_stopped_every_call_succeeds_through_the_other(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, upstreams: list[FakeOpenAI]
) -> None:
    service = await _start(tmp_path, monkeypatch, upstreams, ["gpt-image-2"] * 2)
    await upstreams[0].stop()
    try:
        assert await _burst(service, 12) == [1] * 12
    finally:
        await service.stop(0)
    assert upstreams[1].served_images == 12


async def test_deployments_with_different_size_rules_are_refused_at_start(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, upstreams: list[FakeOpenAI]
) -> None:
    with pytest.raises(StartupError, match=r"different image sizes.*up-1 only 1024x1024"):
        await _start(tmp_path, monkeypatch, upstreams, ["gpt-image-2", "gpt-image-1.5"])


async def test_a_providers_file_that_cannot_work_says_what_to_fix(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "providers.toml"
    path.write_text('[[deployment]]\nname = "az"\nkind = "azure"\nmodel = "gpt-image-2"\n')
    settings = loopback_settings(
        "http://127.0.0.1:9/v1", tmp_path / "data", monkeypatch, providers_file=path
    )
    with pytest.raises(StartupError, match="azure deployment needs endpoint"):
        await start(settings, [API_KEY])
