"""Fixtures: a fake on a free loopback port, and an SDK client pointed at it."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from openai import AsyncOpenAI

from tests.fake_openai import FakeOpenAI
from tests.fake_openai_tests.sdk import make_client


@pytest.fixture
async def fake() -> AsyncIterator[FakeOpenAI]:
    async with FakeOpenAI() as server:
        yield server


@pytest.fixture
async def client(fake: FakeOpenAI) -> AsyncIterator[AsyncOpenAI]:
    async with make_client(fake) as sdk:
        yield sdk
