"""Every JobStore backend behind one fixture: SQLite (the default) and PostgreSQL (a real one)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from visionstudio.server.store import JobStore, PostgresJobStore, SqliteJobStore

from tests.support.store_services import PostgresServer, postgres_server  # noqa: F401


@dataclass
class Backend:
    """Opens stores on one database; several stores stand for several replicas."""

    name: str
    opener: Callable[[], Awaitable[JobStore]]
    opened: list[JobStore] = field(default_factory=list)

    async def open(self) -> JobStore:
        store = await self.opener()
        self.opened.append(store)
        return store


@pytest.fixture(params=["sqlite", "postgres"])
async def backend(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Backend]:
    if request.param == "sqlite":
        path = tmp_path / "jobs.sqlite3"
        backend = Backend("sqlite", lambda: SqliteJobStore.open(path))
    else:
        # (Requested by name, so the SQLite half runs without starting PostgreSQL.)
        server: PostgresServer = request.getfixturevalue("postgres_server")
        url = await server.create_database()
        backend = Backend("postgres", lambda: PostgresJobStore.open(url))
    try:
        yield backend
    finally:
        for store in backend.opened:
            await store.close()


@pytest.fixture
async def store(backend: Backend) -> JobStore:
    return await backend.open()
