"""One contract for every JobStore: SQLite (the default) and PostgreSQL (a real server)."""

from __future__ import annotations

import asyncio
import sqlite3
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

import asyncpg
import pytest
from visionstudio.server.jobs.spec import Usage
from visionstudio.server.store import (
    ImageRecord,
    JobRecord,
    JobStore,
    PostgresJobStore,
    SqliteJobStore,
)
from visionstudio.server.store.schema import migrations

from tests.support.store_services import PostgresServer, postgres_server  # noqa: F401

T0 = 1_700_000_000.0


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


def new_job(
    caller: str = "key-a",
    *,
    idempotency_key: str | None = None,
    request_hash: str | None = None,
    created_at: float = 0.0,
) -> JobRecord:
    return JobRecord(
        id=uuid.uuid4().hex,
        rpc="generate",
        caller=caller,
        model="gpt-image-2",
        params={"prompt": "an owl", "number_of_images": 2, "nested": {"a": [1, 2]}},
        created_at=created_at,
        idempotency_key=idempotency_key,
        request_hash=request_hash,
        number_of_images=2,
    )


def new_image(job_id: str, index: int) -> ImageRecord:
    image_id = uuid.uuid4().hex
    return ImageRecord(
        id=image_id,
        job_id=job_id,
        index=index,
        blob_key=f"images/{image_id}.png",
        mime_type="image/png",
        width=1024,
        height=768,
        size_bytes=1000 + index,
    )


async def test_create_then_get_round_trips_every_field(store: JobStore) -> None:
    job = new_job(idempotency_key="k1", request_hash="h1")
    created, inserted = await store.create_job(job)
    assert inserted and created is job
    assert abs(created.created_at - time.time()) < 5 and created.updated_at == created.created_at
    assert await store.get_job(job.id) == created
    assert await store.get_job("missing") is None


async def test_images_are_listed_in_the_order_they_were_stored(store: JobStore) -> None:
    job, _ = await store.create_job(new_job())
    images = [new_image(job.id, index) for index in (2, 0, 1)]
    for image in images:
        await store.add_image(image)
    listed = await store.list_images(job.id)
    assert [i.id for i in listed] == [i.id for i in images]
    assert all(i.caller == "key-a" and i.created_at > 0 for i in listed)
    assert [replace(i, caller=None, created_at=0.0) for i in listed] == images
    assert await store.get_image(images[1].id) == listed[1]
    assert await store.get_image("missing") is None
    assert await store.list_images("missing") == []
    stored = await store.get_job(job.id)
    assert stored is not None and stored.image_ids == [i.id for i in images]


async def test_finish_records_status_usage_and_error(store: JobStore) -> None:
    job, _ = await store.create_job(new_job())
    usage = Usage(input_tokens=10, input_text_tokens=7, input_image_tokens=3, output_tokens=90)
    await store.finish_job(job.id, "partial", usage, "1 of 2 images failed")
    stored = await store.get_job(job.id)
    assert stored is not None
    assert (stored.status, stored.usage, stored.error) == ("partial", usage, "1 of 2 images failed")
    assert stored.updated_at >= stored.created_at


async def test_a_repeated_key_returns_the_existing_job(store: JobStore) -> None:
    first, inserted = await store.create_job(new_job(idempotency_key="k", request_hash="h1"))
    assert inserted
    again, inserted = await store.create_job(new_job(idempotency_key="k", request_hash="h2"))
    # The existing job, with its own request hash, so the caller can tell a reuse apart.
    assert not inserted and again == first and again.request_hash == "h1"
    other_caller, inserted = await store.create_job(new_job("key-b", idempotency_key="k"))
    assert inserted and other_caller.id != first.id
    # Without a key, every call is a new job.
    assert (await store.create_job(new_job()))[1] and (await store.create_job(new_job()))[1]


async def test_an_expired_key_is_given_up_to_the_next_job(store: JobStore) -> None:
    old, _ = await store.create_job(new_job(idempotency_key="k", created_at=time.time() - 100))
    fresh, inserted = await store.create_job(new_job(idempotency_key="k"), idempotency_window_s=60)
    assert inserted and fresh.id != old.id
    again, inserted = await store.create_job(new_job(idempotency_key="k"), idempotency_window_s=60)
    assert not inserted and again.id == fresh.id
    kept = await store.get_job(old.id)
    assert kept is not None and kept.idempotency_key is None


@pytest.mark.parametrize("expired_holder", [False, True])
async def test_concurrent_creates_with_one_key_make_one_job(
    backend: Backend, expired_holder: bool
) -> None:
    # Two stores on one database stand for two replicas (two pools; two SQLite connections).
    replicas = [await backend.open(), await backend.open()]
    if expired_holder:
        await replicas[0].create_job(new_job(idempotency_key="k", created_at=time.time() - 100))
    results = await asyncio.gather(
        *(
            replicas[i % 2].create_job(new_job(idempotency_key="k"), idempotency_window_s=60)
            for i in range(10)
        )
    )
    assert sum(inserted for _, inserted in results) == 1
    assert len({job.id for job, _ in results}) == 1
    page = await replicas[0].list_jobs("key-a")
    assert len(page.jobs) == (2 if expired_holder else 1)


async def test_list_jobs_filters_by_status_and_time(store: JobStore) -> None:
    jobs = [(await store.create_job(new_job(created_at=T0 + i)))[0] for i in range(6)]
    for job in jobs[::2]:
        await store.finish_job(job.id, "succeeded", Usage())
    page = await store.list_jobs("key-a", status="succeeded")
    assert [j.id for j in page.jobs] == [jobs[4].id, jobs[2].id, jobs[0].id]
    page = await store.list_jobs("key-a", created_after=T0 + 1, created_before=T0 + 4)
    assert [j.id for j in page.jobs] == [jobs[3].id, jobs[2].id, jobs[1].id]
    page = await store.list_jobs("key-a", status="running", created_after=T0 + 2)
    assert [j.id for j in page.jobs] == [jobs[5].id, jobs[3].id]
    assert page.next_page_token is None


async def test_pages_go_newest_first_without_gaps_or_repeats(store: JobStore) -> None:
    # Three jobs share each second, so the id has to break the ties.
    jobs = [(await store.create_job(new_job(created_at=T0 + i // 3)))[0] for i in range(25)]
    expected = [j.id for j in sorted(jobs, key=lambda j: (j.created_at, j.id), reverse=True)]
    seen: list[str] = []
    token: str | None = None
    sizes = []
    while True:
        page = await store.list_jobs("key-a", page_size=10, page_token=token)
        seen.extend(j.id for j in page.jobs)
        sizes.append(len(page.jobs))
        if page.next_page_token is None:
            break
        token = page.next_page_token
        # A job created while paging is newer than every page: it shifts nothing.
        await store.create_job(new_job())
    assert sizes == [10, 10, 5]
    assert seen == expected


async def test_bad_page_requests_are_refused(store: JobStore) -> None:
    with pytest.raises(ValueError, match="page token"):
        await store.list_jobs("key-a", page_token="not a token")
    with pytest.raises(ValueError, match="page_size"):
        await store.list_jobs("key-a", page_size=0)


async def test_a_caller_sees_only_its_own_jobs(store: JobStore) -> None:
    mine, _ = await store.create_job(new_job("key-a"))
    theirs, _ = await store.create_job(new_job("key-b"))
    await store.add_image(new_image(theirs.id, 0))
    await store.finish_job(theirs.id, "succeeded", Usage(total_tokens=50))
    assert [j.id for j in (await store.list_jobs("key-a")).jobs] == [mine.id]
    assert [j.id for j in (await store.list_jobs("key-b")).jobs] == [theirs.id]
    totals = await store.usage("key-a")
    assert (totals.jobs, totals.images, totals.usage) == (1, 0, Usage())


async def test_usage_sums_tokens_and_images_over_a_time_range(store: JobStore) -> None:
    for i, usage in enumerate(
        [Usage(10, 6, 4, 100, 110), Usage(20, 20, 0, 200, 220), Usage(1, 1, 0, 1, 2)]
    ):
        job, _ = await store.create_job(new_job(created_at=T0 + i * 10))
        for index in range(i + 1):
            await store.add_image(new_image(job.id, index))
        await store.finish_job(job.id, "succeeded", usage)
    await store.create_job(new_job(created_at=T0 + 5))  # running: no usage yet
    totals = await store.usage("key-a")
    assert (totals.jobs, totals.images, totals.usage) == (4, 6, Usage(31, 27, 4, 301, 332))
    totals = await store.usage("key-a", since=T0 + 5, until=T0 + 20)
    assert (totals.jobs, totals.images, totals.usage) == (2, 2, Usage(20, 20, 0, 200, 220))
    assert (await store.usage("nobody")).usage == Usage()


async def test_purge_removes_old_finished_jobs_and_returns_their_blob_keys(
    store: JobStore,
) -> None:
    old_done, _ = await store.create_job(new_job(created_at=T0))
    old_images = [new_image(old_done.id, i) for i in range(2)]
    for image in old_images:
        await store.add_image(image)
    await store.finish_job(old_done.id, "succeeded", Usage())
    old_failed, _ = await store.create_job(new_job("key-b", created_at=T0 + 1))
    await store.finish_job(old_failed.id, "failed", Usage(), "boom")
    old_running, _ = await store.create_job(new_job(created_at=T0 + 2))
    await store.add_image(new_image(old_running.id, 0))
    recent, _ = await store.create_job(new_job(created_at=T0 + 100))
    await store.finish_job(recent.id, "succeeded", Usage())

    keys = await store.purge(older_than=T0 + 50)

    assert sorted(keys) == sorted(i.blob_key for i in old_images)
    assert await store.get_job(old_done.id) is None and await store.get_job(old_failed.id) is None
    assert await store.get_image(old_images[0].id) is None
    assert await store.get_job(old_running.id) is not None
    assert len(await store.list_images(old_running.id)) == 1
    assert await store.get_job(recent.id) is not None
    assert await store.purge(older_than=T0 + 50) == []


async def test_reopening_keeps_the_data_and_the_schema(backend: Backend) -> None:
    first = await backend.open()
    job, _ = await first.create_job(new_job())
    second = await backend.open()
    assert await second.get_job(job.id) == job


# --- Backend-specific -----------------------------------------------------------------------

# The schema databases had before versioned migrations; they must open and keep their jobs.
LEGACY_SCHEMA = """
CREATE TABLE jobs (id TEXT PRIMARY KEY, rpc TEXT NOT NULL, caller TEXT NOT NULL,
    model TEXT NOT NULL, params TEXT NOT NULL, status TEXT NOT NULL,
    image_ids TEXT NOT NULL DEFAULT '[]', usage TEXT, error TEXT,
    created_at REAL NOT NULL, updated_at REAL NOT NULL);
CREATE TABLE images (id TEXT PRIMARY KEY, job_id TEXT NOT NULL REFERENCES jobs(id),
    idx INTEGER NOT NULL, blob_key TEXT NOT NULL, mime_type TEXT NOT NULL,
    width INTEGER NOT NULL, height INTEGER NOT NULL, size_bytes INTEGER NOT NULL,
    created_at REAL NOT NULL);
CREATE INDEX images_job ON images(job_id);
INSERT INTO jobs VALUES ('old', 'generate', 'key-a', 'm', '{"prompt": "x"}', 'succeeded',
    '["img"]', '{"total_tokens": 5}', NULL, 1.0, 2.0);
INSERT INTO images VALUES ('img', 'old', 0, 'images/img.png', 'image/png', 8, 8, 10, 1.5);
"""


async def test_sqlite_adopts_a_database_from_before_migrations(tmp_path: Path) -> None:
    path = tmp_path / "jobs.sqlite3"
    with sqlite3.connect(path) as db:
        db.executescript(LEGACY_SCHEMA)
    store = await SqliteJobStore.open(path)
    try:
        job = await store.get_job("old")
        assert job is not None and job.usage == Usage(total_tokens=5)
        assert (job.image_ids, job.idempotency_key, job.number_of_images) == (["img"], None, 1)
        image = await store.get_image("img")
        assert image is not None and image.caller == "key-a"
    finally:
        await store.close()
    with sqlite3.connect(path) as db:
        versions = [row[0] for row in db.execute("SELECT version FROM schema_migrations")]
    assert versions == [m.version for m in migrations("sqlite")]


async def test_postgres_replicas_starting_together_migrate_once(
    postgres_server: PostgresServer,  # noqa: F811
) -> None:
    url = await postgres_server.create_database()
    stores = await asyncio.gather(*(PostgresJobStore.open(url) for _ in range(3)))
    try:
        conn = await asyncpg.connect(url)
        try:
            versions = [
                r["version"] for r in await conn.fetch("SELECT version FROM schema_migrations")
            ]
        finally:
            await conn.close()
        assert versions == [m.version for m in migrations("postgres")]
    finally:
        for store in stores:
            await store.close()
