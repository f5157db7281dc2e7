"""Batches in the store: their items' requests, leases, cancelling and retention, one contract
for every backend (SQLite and a real PostgreSQL)."""

from __future__ import annotations

import asyncio
import time
import uuid
from dataclasses import replace

from visionstudio.server.store import JobStore
from visionstudio.server.store.batch_records import (
    BatchRecord,
    BatchStatus,
    ItemRequest,
    ItemStatus,
)

from tests.store.conftest import Backend


def new_batch(
    key: str | None = None, *, owner: str = "a", lease_until: float = 1e12
) -> BatchRecord:
    return BatchRecord(
        id=uuid.uuid4().hex,
        caller="key-a",
        item_count=3,
        idempotency_key=key,
        items_digest="digest-1",
        lease_owner=owner,
        lease_until=lease_until,
    )


def requests(n: int = 3) -> list[ItemRequest]:
    return [
        ItemRequest(f"item-{i}", "generate", {"prompt": f"owl {i}", "image": None})
        for i in range(n)
    ]


async def test_a_batch_keeps_its_items_requests_and_a_held_key_names_the_first(
    store: JobStore,
) -> None:
    first, created = await store.create_batch(new_batch("k"), requests())
    assert created and first.items_digest == "digest-1" and first.created_at > 0
    assert await store.get_item_request(first.id, 2) == requests()[2]
    assert [i.status for i in await store.list_batch_items(first.id)] == [ItemStatus.PENDING] * 3

    again, created = await store.create_batch(new_batch("k"), requests(1))
    assert not created and again == first
    # The repeat stored nothing of its own.
    assert await store.get_item_request(again.id, 0) == requests()[0]
    assert len(await store.list_batch_items(first.id)) == 3


async def test_only_an_expired_batch_lease_is_claimed_and_by_one_owner(backend: Backend) -> None:
    a, b = await backend.open(), await backend.open()  # two replicas on one database
    held, _ = await a.create_batch(new_batch(), requests())
    lapsed, _ = await a.create_batch(new_batch(owner="dead", lease_until=1.0), requests())
    ended, _ = await a.create_batch(new_batch(owner="dead", lease_until=1.0), requests())
    await a.finish_batch(ended.id, BatchStatus.SUCCEEDED)

    claims = await asyncio.gather(
        a.claim_expired_batches("a", 30, 10), b.claim_expired_batches("b", 30, 10)
    )

    assert [batch.id for claim in claims for batch in claim] == [lapsed.id]
    winner = "a" if claims[0] else "b"
    stored = await a.get_batch(lapsed.id)
    assert stored is not None and stored.lease_owner == winner and stored.lease_until > 1e9
    await a.renew_batch_lease(lapsed.id, "intruder", 3600)
    assert await a.get_batch(lapsed.id) == stored
    await a.release_batch_lease(lapsed.id, winner)
    assert [batch.id for batch in await b.claim_expired_batches("b", 30, 10)] == [lapsed.id]
    assert held.id not in {batch.id for batch in await a.claim_expired_batches("a", 30, 10)}


async def test_cancelling_marks_the_waiting_items_at_once_and_wakes_watchers(
    backend: Backend,
) -> None:
    a, b = await backend.open(), await backend.open()
    batch, _ = await a.create_batch(new_batch(), requests())
    await a.update_batch_item(batch.id, 0, ItemStatus.RUNNING, job_id="job-0")
    # PostgreSQL tells every replica (LISTEN/NOTIFY); SQLite the process that made the change.
    watcher = b if b.notifies else a
    async with watcher.changes(batch.id) as changed:
        await a.cancel_pending_items(batch.id, "cancelled by CancelBatch")
        await asyncio.wait_for(changed.wait(), timeout=30)
    items = await a.list_batch_items(batch.id)
    assert [i.status for i in items] == [ItemStatus.RUNNING] + [ItemStatus.CANCELLED] * 2
    assert items[0].job_id == "job-0" and items[1].error == "cancelled by CancelBatch"


async def test_retention_deletes_ended_batches_and_keeps_running_ones(store: JobStore) -> None:
    ended, _ = await store.create_batch(new_batch(), requests())
    running, _ = await store.create_batch(new_batch(), requests())
    await store.finish_batch(ended.id, BatchStatus.PARTIAL)
    assert await store.purge_batches(time.time() - 3600) == 0  # both are newer
    assert await store.purge_batches(time.time() + 1) == 1
    assert await store.get_batch(ended.id) is None
    assert await store.list_batch_items(ended.id) == []
    kept = await store.get_batch(running.id)
    assert kept is not None and replace(kept, updated_at=0) == replace(running, updated_at=0)
    assert len(await store.list_batch_items(running.id)) == 3
