"""Replicas sharing a provider account share one budget, through PostgreSQL."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest
from visionstudio.server.assembly import start
from visionstudio.server.core import StartupError
from visionstudio.server.errors import ResourceExhausted
from visionstudio.server.provider.budget import ProviderBudget
from visionstudio.server.settings import Settings
from visionstudio.server.store import PostgresJobStore
from visionstudio.server.store.budget_tokens import PostgresTokens

from tests.fake_openai import FakeOpenAI
from tests.support.store_services import PostgresServer, postgres_server  # noqa: F401


async def test_two_replicas_together_spend_the_accounts_budget_once(
    postgres_server: PostgresServer,  # noqa: F811
) -> None:
    dsn = await postgres_server.create_database()
    migrated = await PostgresJobStore.open(dsn)  # the job store owns the schema
    replicas = []
    for _ in range(2):
        budget = ProviderBudget(images_per_minute=30, requests_per_minute=0)
        budget.share(await PostgresTokens.open(dsn, "acct", budget.per_minute))
        replicas.append(budget)
    deadline = time.monotonic() + 1.0

    async def call(budget: ProviderBudget, caller: str) -> bool:
        try:
            await budget.acquire(caller, deadline)
        except ResourceExhausted:
            return False
        return True

    granted = await asyncio.gather(*(call(b, f"key-{i % 3}") for i in range(20) for b in replicas))
    # 30 a minute: the minute's 30 at once, and at most one more refilled within the second.
    assert 30 <= sum(granted) <= 31
    other_account = ProviderBudget(images_per_minute=30, requests_per_minute=0)
    other_account.share(await PostgresTokens.open(dsn, "another", other_account.per_minute))
    await other_account.acquire("key-0", time.monotonic() + 1)  # its own budget is untouched
    for budget in (*replicas, other_account):
        await budget.close()
    await migrated.close()


async def test_a_shared_budget_without_postgresql_is_refused_at_start(
    tmp_path: Path, upstream: FakeOpenAI, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_BASE_URL", upstream.base_url)
    monkeypatch.setenv("OPENAI_API_KEY", "sk-x")
    settings = Settings(
        data_dir=tmp_path,
        grpc_port=0,
        http_port=0,
        host="127.0.0.1",
        provider_images_per_minute=60,
        provider_budget_shared=True,
    )
    with pytest.raises(StartupError, match="PostgreSQL"):
        await start(settings, ["k"])
