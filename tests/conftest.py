"""Shared fixtures: a loopback OpenAI-compatible upstream and the real service on free ports."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import grpc
import pytest
from visionstudio.client import MAX_MESSAGE_BYTES
from visionstudio.image.v1 import image_service_pb2_grpc as pb_grpc
from visionstudio.server.api.http.models import API_PREFIX
from visionstudio.server.assembly import start

from tests.fake_openai import FakeOpenAI, FakeOpenAIConfig
from tests.support.harness import API_KEY, UPSTREAM_KEY, Harness, ImageHost
from tests.support.json_api import Api
from tests.support.loopback import loopback_settings


@pytest.fixture
async def upstream() -> AsyncIterator[FakeOpenAI]:
    async with FakeOpenAI(FakeOpenAIConfig(api_key=UPSTREAM_KEY)) as fake:
        yield fake


@pytest.fixture
async def harness(
    upstream: FakeOpenAI,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    request: pytest.FixtureRequest,
) -> AsyncIterator[Harness]:
    """The service; parametrize it indirectly with a dict to override settings."""
    settings = loopback_settings(
        upstream.base_url,
        tmp_path / "data",
        monkeypatch,
        # A test's own settings win over these (e.g. the production upstream timeout).
        **{
            "url_allowlist": ["127.0.0.1"],
            "upstream_max_retries": 2,
            "upstream_backoff_initial_s": 0.01,
            "upstream_backoff_max_s": 0.05,
            "upstream_timeout_s": 30,
            **getattr(request, "param", {}),
        },
    )
    # The same composition root as `visionstudio-server`, with the same defaults.
    service = await start(settings, [API_KEY, "test-key-2"])
    channel = grpc.aio.insecure_channel(
        f"127.0.0.1:{service.grpc_port}",
        options=[
            ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
            ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
        ],
    )
    try:
        stub = pb_grpc.ImageServiceStub(channel)
        yield Harness(service, stub, channel, settings.data_dir, service.core.metrics)
    finally:
        await channel.close()
        await service.stop(0)


@pytest.fixture
async def image_host() -> AsyncIterator[ImageHost]:
    host = ImageHost()
    await host.start()
    try:
        yield host
    finally:
        await host.stop()


@pytest.fixture
async def api(harness: Harness) -> AsyncIterator[Api]:
    """The JSON surface of the harness's server."""
    async with aiohttp.ClientSession() as http:
        yield Api(http, f"http://127.0.0.1:{harness.service.http_port}{API_PREFIX}")
