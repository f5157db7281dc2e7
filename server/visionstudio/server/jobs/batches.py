"""Batches (RunBatch, GetBatch, ListBatches, WatchBatch, CancelBatch): many requests in one
call, each item an ordinary job, every image streamed as it finishes, tagged with its item."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass

from visionstudio.server.errors import InvalidArgument, NotFound, Unavailable
from visionstudio.server.jobs.batch_events import (
    BatchAccepted,
    BatchEvent,
    BatchFinished,
    ItemEnded,
    ItemImage,
    ItemStarted,
)
from visionstudio.server.jobs.batch_run import BatchItem, BatchRun
from visionstudio.server.jobs.links import new_id
from visionstudio.server.jobs.queries import JobQueries
from visionstudio.server.jobs.runner import ImageStudio
from visionstudio.server.spec import Usage
from visionstudio.server.store import BatchStore
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
# How long CancelBatch waits for a live batch to record its end, so its answer shows it.
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
        concurrency: int,
        job_timeout_s: float,
    ) -> None:
        self._studio = studio
        self._store = store
        self._queries = queries
        self._concurrency = concurrency
        self._job_timeout_s = job_timeout_s
        # Batches driven by this process, until they end.
        self._live: dict[str, tuple[BatchRun, asyncio.Task[None]]] = {}

    async def run(
        self, items: list[BatchItem], *, caller: str, idempotency_key: str
    ) -> AsyncIterator[BatchEvent]:
        """Streams the batch's events; the batch goes on when the caller goes away. A repeat
        with the same idempotency key re-attaches to the first batch."""
        check_items(items, idempotency_key)
        record = BatchRecord(
            id=new_id(),
            caller=caller,
            item_count=len(items),
            idempotency_key=idempotency_key or None,
        )
        record, created = await self._store.create_batch(record, [i.item_id for i in items])
        if created:
            self._start(record, items)
        async for event in self.watch(record.id, caller):
            yield event

    def _start(self, record: BatchRecord, items: list[BatchItem]) -> None:
        run = BatchRun(
            record,
            items,
            studio=self._studio,
            store=self._store,
            concurrency=self._concurrency,
            job_timeout_s=self._job_timeout_s,
        )
        task = asyncio.create_task(run.drive())
        self._live[record.id] = (run, task)
        task.add_done_callback(lambda _: self._live.pop(record.id, None))

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
        """What is done, then the rest as it finishes."""
        record = await self.own(batch_id, caller)
        live = self._live.get(record.id)
        if live is not None:
            async for event in live[0].feed.follow():
                yield event
            return
        async for event in self._replay(record):
            yield event

    async def _replay(self, record: BatchRecord) -> AsyncIterator[BatchEvent]:
        """An ended batch's events, rebuilt from the store (images in storage order)."""
        yield BatchAccepted(record.id, record.item_count)
        usage, images = Usage(), 0
        items = await self._store.list_batch_items(record.id)
        for item in items:
            if item.job_id is None:
                continue
            view = await self._queries.get(item.job_id, record.caller)
            yield ItemStarted(item.item_id, item.job_id)
            for image in view.images:
                yield ItemImage(item.item_id, item.job_id, image)
            usage += view.job.usage or Usage()
            images += len(view.images)
        if record.status is BatchStatus.RUNNING:
            raise Unavailable(
                f"batch {record.id} is not running on this replica; its items go on as jobs"
                " (WatchJob follows each)",
                reason="BATCH_NOT_LIVE",
                metadata={"batch_id": record.id},
            )
        for item in items:
            if item.status not in (ItemStatus.PENDING, ItemStatus.RUNNING):
                yield ItemEnded(item.item_id, item.job_id, item.status, item.error)
        yield _summary(record, items, usage, images)

    async def cancel(self, batch_id: str, caller: str) -> BatchView:
        """Cancels every unfinished item; an ended batch is returned unchanged."""
        record = await self.own(batch_id, caller)
        live = self._live.get(record.id)
        if live is not None:
            run, task = live
            run.cancelled = True
            for job_id in list(run.running.values()):
                await self._studio.cancel(job_id, caller)
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
        """In the store: the batch's started jobs are cancelled, the rest marked (for a batch no
        process here drives, or one whose driver has not settled yet)."""
        for item in await self._store.list_batch_items(record.id):
            if item.status is ItemStatus.RUNNING and item.job_id is not None:
                await self._studio.cancel(item.job_id, record.caller)
            if item.status in (ItemStatus.PENDING, ItemStatus.RUNNING):
                await self._store.update_batch_item(
                    record.id, item.position, ItemStatus.CANCELLED, error="cancelled by CancelBatch"
                )
        await self._store.finish_batch(record.id, BatchStatus.CANCELLED)

    async def stop(self) -> None:
        """At shutdown: the drivers stop (their running items are durable jobs and go on)."""
        for _, task in list(self._live.values()):
            task.cancel()
        await asyncio.gather(*(task for _, task in self._live.values()), return_exceptions=True)


def _summary(
    record: BatchRecord, items: list[BatchItemRecord], usage: Usage, images: int
) -> BatchFinished:
    statuses = [item.status for item in items]
    return BatchFinished(
        batch_id=record.id,
        succeeded=statuses.count(ItemStatus.SUCCEEDED),
        failed=statuses.count(ItemStatus.FAILED),
        cancelled=statuses.count(ItemStatus.CANCELLED),
        images_delivered=images,
        usage=usage,
        elapsed_ms=int((record.updated_at - record.created_at) * 1000),
    )
