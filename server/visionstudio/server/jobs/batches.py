"""Batches (RunBatch, GetBatch, ListBatches, WatchBatch, CancelBatch): many requests in one
call, each item an ordinary job, every image streamed as it finishes, tagged with its item."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass

from visionstudio.server.errors import InvalidArgument, NotFound
from visionstudio.server.jobs.batch_events import BatchEvent
from visionstudio.server.jobs.batch_follow import follow_stored
from visionstudio.server.jobs.batch_live import LiveBatches
from visionstudio.server.jobs.batch_run import CANCEL_REASON, BatchItem, BatchRun, Services
from visionstudio.server.jobs.batch_specs import (
    described_items,
    drop_inputs,
    keep_inputs,
)
from visionstudio.server.jobs.links import new_id
from visionstudio.server.jobs.queries import JobQueries
from visionstudio.server.jobs.runner import ImageStudio
from visionstudio.server.store import BatchStore, BlobStore
from visionstudio.server.store.batch_records import (
    BatchItemRecord,
    BatchPage,
    BatchRecord,
    BatchStatus,
    ItemStatus,
)

MAX_ITEMS = 1000
MAX_ITEM_ID_CHARS = 128
MAX_KEY_CHARS = 128
# How long CancelBatch waits for a live batch to record its end, so its answer shows it. (The
# waiting items end with one write; only the running ones' jobs have each to stop.)
CANCEL_SETTLE_S = 5.0


@dataclass(frozen=True)
class BatchView:
    batch: BatchRecord
    items: list[BatchItemRecord]


def check_items(items: Sequence[BatchItem], idempotency_key: str) -> None:
    if not 1 <= len(items) <= MAX_ITEMS:
        raise InvalidArgument("items", f"must hold 1..{MAX_ITEMS} items, not {len(items)}")
    seen: set[str] = set()
    for position, item in enumerate(items):
        if not 1 <= len(item.item_id) <= MAX_ITEM_ID_CHARS:
            raise InvalidArgument(
                f"items[{position}].item_id", f"must be 1..{MAX_ITEM_ID_CHARS} characters"
            )
        if item.item_id in seen:
            raise InvalidArgument(f"items[{position}].item_id", "repeats an earlier item's id")
        seen.add(item.item_id)
    if len(idempotency_key) > MAX_KEY_CHARS:
        raise InvalidArgument("idempotency_key", f"must be at most {MAX_KEY_CHARS} characters")


class Batches:
    def __init__(
        self,
        *,
        studio: ImageStudio,
        store: BatchStore,
        queries: JobQueries,
        blobs: BlobStore,
        concurrency: int,
        job_timeout_s: float,
        lease_s: float,
    ) -> None:
        self._studio = studio
        self._store = store
        self._queries = queries
        self._blobs = blobs
        self._services = Services(studio, store, queries, blobs, concurrency, job_timeout_s)
        # Batches driven by this process, until they end.
        self._live = LiveBatches(
            store=store,
            owner=new_id(),
            lease_s=lease_s,
            make_run=lambda record, items: BatchRun(record, items, self._services),
        )
        self._stopping = False

    async def run(
        self, items: list[BatchItem], *, caller: str, idempotency_key: str
    ) -> AsyncIterator[BatchEvent]:
        """Streams the batch's events; the batch goes on when the caller goes away. A repeat
        with the same idempotency key re-attaches to the first batch; with other items it is
        refused (INVALID_ARGUMENT, IDEMPOTENCY_KEY_REUSED)."""
        check_items(items, idempotency_key)
        # Off the loop: a thousand items may hash megabytes of inline images.
        requests, digest = await asyncio.to_thread(described_items, items)
        wanted = BatchRecord(
            id=new_id(),
            caller=caller,
            item_count=len(items),
            idempotency_key=idempotency_key or None,
            items_digest=digest,
            lease_owner=self._live.owner,
            lease_until=time.time() + self._live.lease_s,
        )
        # Before the batch is recorded: whoever drives it finds every item's inputs.
        await keep_inputs(wanted.id, items, self._blobs)
        record, created = await self._store.create_batch(wanted, requests)
        if created:
            self._start(record, items)
        else:
            await drop_inputs(wanted.id, len(items), self._blobs)
            # (A batch stored before items were digested cannot be compared.)
            if record.items_digest not in (None, digest):
                raise InvalidArgument(
                    "idempotency_key",
                    f"was used for batch {record.id} with other items; use a new key",
                    reason="IDEMPOTENCY_KEY_REUSED",
                )
        async for event in self.watch(record.id, caller):
            yield event

    def _start(self, record: BatchRecord, items: list[BatchItem]) -> None:
        records = [
            BatchItemRecord(record.id, position, item.item_id)
            for position, item in enumerate(items)
        ]
        specs = {position: item.spec for position, item in enumerate(items)}
        self._live.drive(BatchRun(record, records, self._services, specs))

    async def own(self, batch_id: str, caller: str) -> BatchRecord:
        record = await self._store.get_batch(batch_id)
        if record is None or record.caller != caller:
            # Another key's batch is indistinguishable from an unknown id.
            raise NotFound(f"batch {batch_id} not found")
        return record

    async def get(self, batch_id: str, caller: str) -> BatchView:
        record = await self.own(batch_id, caller)
        return BatchView(record, await self._store.list_batch_items(record.id))

    async def list(self, caller: str, *, page_size: int, page_token: str | None) -> BatchPage:
        return await self._store.list_batches(caller, page_size=page_size, page_token=page_token)

    async def watch(self, batch_id: str, caller: str) -> AsyncIterator[BatchEvent]:
        """What is done, then the rest as it finishes: from the driver's feed when the batch
        runs here, else from the store (another replica drives it, or it has ended)."""
        record = await self.own(batch_id, caller)
        run = self._live.get(record.id)
        events = (
            run.feed.follow()
            if run is not None
            else follow_stored(
                record, store=self._store, queries=self._queries, stopping=lambda: self._stopping
            )
        )
        async for event in events:
            yield event

    async def cancel(self, batch_id: str, caller: str) -> BatchView:
        """Cancels every unfinished item; an ended batch is returned unchanged."""
        record = await self.own(batch_id, caller)
        run, task = self._live.get(record.id), self._live.task(record.id)
        if run is not None and task is not None:
            await run.cancel()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(task), CANCEL_SETTLE_S)
            if not task.done():
                # Its items are slow to stop (a loaded process): the answer still says what
                # the cancel decided; the driver records the same when they have ended.
                await self._cancel_stored(record)
        elif record.status is BatchStatus.RUNNING:
            await self._cancel_stored(record)
        return await self.get(record.id, caller)

    async def _cancel_stored(self, record: BatchRecord) -> None:
        """In the store: the batch's started jobs are cancelled, the rest marked (for a batch
        another replica drives, which sees it at its next lease renewal, or one whose driver
        has not settled yet)."""
        await self._store.cancel_pending_items(record.id, CANCEL_REASON)
        running = [
            item
            for item in await self._store.list_batch_items(record.id)
            if item.status is ItemStatus.RUNNING and item.job_id is not None
        ]
        await asyncio.gather(*(self._studio.cancel(i.job_id or "", record.caller) for i in running))
        for item in running:
            await self._store.update_batch_item(
                record.id, item.position, ItemStatus.CANCELLED, error=CANCEL_REASON
            )
        await self._store.finish_batch(record.id, BatchStatus.CANCELLED)

    def start(self) -> None:
        """Background work: leases of the batches driven here, and batches to take over."""
        self._live.start()

    async def stop(self) -> None:
        """At shutdown: followers are told to re-attach elsewhere, drivers stop and hand
        their batches back (their running items are durable jobs and go on)."""
        self._stopping = True
        await self._live.stop()
