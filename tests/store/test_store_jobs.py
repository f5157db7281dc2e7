"""Storing jobs and images, idempotency keys and purging: one contract for every backend."""

from __future__ import annotations

import asyncio
import time
from dataclasses import replace

import pytest
from visionstudio.server.spec import Usage
from visionstudio.server.store import JobStatus, JobStore

from tests.store.conftest import Backend
from tests.store.samples import T0, new_image, new_job


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
    # Each image keeps what it cost and which deployment made it (or nothing, as before).
    images[0] = replace(images[0], usage=Usage(5, 5, 0, 100, 105), deployment="azure-we")
    for image in images:
        await store.add_image(image)
    listed = await store.list_images(job.id)
    assert [i.id for i in listed] == [i.id for i in images]
    assert all(i.caller == "key-a" and i.created_at > 0 for i in listed)
    assert [replace(i, caller=None, created_at=0.0) for i in listed] == images
    assert await store.get_image(images[1].id) == listed[1]
    assert await store.get_image("missing") is None
    assert await store.list_images("missing") == []


async def test_finish_records_status_usage_and_error(store: JobStore) -> None:
    job, _ = await store.create_job(new_job())
    usage = Usage(input_tokens=10, input_text_tokens=7, input_image_tokens=3, output_tokens=90)
    await store.finish_job(job.id, JobStatus.PARTIAL, usage, "1 of 2 images failed")
    stored = await store.get_job(job.id)
    assert stored is not None
    assert (stored.status, stored.usage, stored.error) == ("partial", usage, "1 of 2 images failed")
    # Read back as the enum, which still equals the plain string callers compare with.
    assert stored.status is JobStatus.PARTIAL
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


async def test_purge_removes_old_finished_jobs_and_returns_their_blob_keys(
    store: JobStore,
) -> None:
    old_done, _ = await store.create_job(new_job(created_at=T0))
    old_images = [new_image(old_done.id, i) for i in range(2)]
    for image in old_images:
        await store.add_image(image)
    await store.finish_job(old_done.id, JobStatus.SUCCEEDED, Usage())
    old_failed, _ = await store.create_job(new_job("key-b", created_at=T0 + 1))
    await store.finish_job(old_failed.id, JobStatus.FAILED, Usage(), "boom")
    old_running, _ = await store.create_job(new_job(created_at=T0 + 2))
    await store.add_image(new_image(old_running.id, 0))
    recent, _ = await store.create_job(new_job(created_at=T0 + 100))
    await store.finish_job(recent.id, JobStatus.SUCCEEDED, Usage())

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


async def test_writers_cancelled_mid_statement_leave_the_store_writable(store: JobStore) -> None:
    job, _ = await store.create_job(new_job())
    # Cancelled at every point of their transactions (a cancelled job's image tasks do this).
    for delay_steps in range(6):
        writes = [asyncio.create_task(store.add_image(new_image(job.id, i))) for i in range(8)]
        for _ in range(delay_steps):
            await asyncio.sleep(0)
        for task in writes:
            task.cancel()
        await asyncio.gather(*writes, return_exceptions=True)
    last = new_image(job.id, 99)
    await store.add_image(last)
    assert await store.get_image(last.id) is not None
    await store.finish_job(job.id, JobStatus.SUCCEEDED, Usage())
