"""Runs one batch's items as ordinary jobs, a few at a time, and tells its feed what happens.

Items go to the runner in turn (`concurrency` at once per batch), through the same admission,
per-key caps and provider budget as any call: a large batch takes its share of its key's slots
instead of queueing all its images at once, so other keys' calls keep their usual latency. An
item refused for capacity waits and tries again; any other error ends that item alone.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterator
from dataclasses import dataclass

from visionstudio.server.errors import JobCancelled, ResourceExhausted, ServiceError
from visionstudio.server.jobs.batch_events import (
    BatchAccepted,
    BatchFinished,
    ItemEnded,
    ItemImage,
    ItemStarted,
)
from visionstudio.server.jobs.batch_feed import BatchFeed
from visionstudio.server.jobs.events import Accepted, Finished, ImageReady
from visionstudio.server.jobs.runner import ImageStudio
from visionstudio.server.spec import JobSpec, Usage
from visionstudio.server.store import BatchStore
from visionstudio.server.store.batch_records import BatchRecord, BatchStatus, ItemStatus

log = logging.getLogger(__name__)

CANCEL_REASON = "cancelled by CancelBatch"
# Capacity refusals an item waits out (admission's own reasons) instead of failing.
_WAIT_REASONS = frozenset({"SERVER_BUSY", "KEY_CONCURRENCY_LIMIT", "KEY_RATE_LIMIT"})
_MIN_WAIT_S = 0.2


@dataclass(frozen=True)
class BatchItem:
    item_id: str
    spec: JobSpec


class BatchRun:
    def __init__(
        self,
        record: BatchRecord,
        items: list[BatchItem],
        *,
        studio: ImageStudio,
        store: BatchStore,
        concurrency: int,
        job_timeout_s: float,
    ) -> None:
        self.record = record
        self.feed = BatchFeed()
        self._items = items
        self._studio = studio
        self._store = store
        self._concurrency = concurrency
        self._job_timeout_s = job_timeout_s
        self._usage = Usage()
        self._images = 0
        self._ends: list[ItemStatus] = []
        # Items whose job is running, by position: what CancelBatch cancels.
        self.running: dict[int, str] = {}
        self.cancelled = False

    async def drive(self) -> None:
        started = time.monotonic()
        self.feed.publish(BatchAccepted(self.record.id, len(self._items)))
        try:
            turns = iter(enumerate(self._items))
            workers = min(self._concurrency, len(self._items))
            await asyncio.gather(*(self._work(turns) for _ in range(workers)))
            await self._store.finish_batch(self.record.id, self._status())
            self.feed.publish(self._summary(started))
        finally:
            self.feed.close()

    async def _work(self, turns: Iterator[tuple[int, BatchItem]]) -> None:
        # The workers share one iterator: each takes the next item when its last one ended.
        for position, item in turns:
            await self._item(position, item)

    async def _item(self, position: int, item: BatchItem) -> None:
        job_id: str | None = None
        error: ServiceError | None = None
        while True:
            if self.cancelled:
                error = JobCancelled(CANCEL_REASON)
                break
            try:
                await self._relay(position, item)
                error = None
                break
            except ResourceExhausted as exc:
                error = exc
                if exc.reason not in _WAIT_REASONS or position in self.running:
                    break
                await asyncio.sleep(max(_MIN_WAIT_S, exc.retry_after_s or 0.0))
            except ServiceError as exc:
                error = exc
                break
            finally:
                job_id = self.running.pop(position, job_id)
        await self._end(position, item, job_id, error)

    async def _relay(self, position: int, item: BatchItem) -> None:
        """Runs the item's job to its end, publishing its events."""
        events = self._studio.run(
            item.spec, caller=self.record.caller, timeout_s=self._job_timeout_s
        )
        async for event in events:
            if isinstance(event, Accepted):
                self.running[position] = event.job_id
                await self._store.update_batch_item(
                    self.record.id, position, ItemStatus.RUNNING, job_id=event.job_id
                )
                self.feed.publish(ItemStarted(item.item_id, event.job_id))
                if self.cancelled:
                    # CancelBatch came while this job was being accepted, after it had
                    # cancelled the running ones: this one stops too.
                    await self._studio.cancel(event.job_id, self.record.caller)
            elif isinstance(event, ImageReady):
                job_id = self.running[position]
                self.feed.publish(ItemImage(item.item_id, job_id, event))
            elif isinstance(event, Finished):
                self._usage += event.usage
                self._images += event.images_delivered

    async def _end(
        self, position: int, item: BatchItem, job_id: str | None, error: ServiceError | None
    ) -> None:
        if error is None:
            status, text, reason = ItemStatus.SUCCEEDED, None, None
        else:
            cancelled = isinstance(error, JobCancelled)
            status = ItemStatus.CANCELLED if cancelled else ItemStatus.FAILED
            text, reason = error.message, error.reason
        self._ends.append(status)
        await self._store.update_batch_item(
            self.record.id, position, status, job_id=job_id, error=text
        )
        self.feed.publish(ItemEnded(item.item_id, job_id, status, text, reason))

    def _status(self) -> BatchStatus:
        succeeded = self._ends.count(ItemStatus.SUCCEEDED)
        if self.cancelled:
            return BatchStatus.CANCELLED
        if succeeded == len(self._ends):
            return BatchStatus.SUCCEEDED
        return BatchStatus.PARTIAL if succeeded else BatchStatus.FAILED

    def _summary(self, started: float) -> BatchFinished:
        return BatchFinished(
            batch_id=self.record.id,
            succeeded=self._ends.count(ItemStatus.SUCCEEDED),
            failed=self._ends.count(ItemStatus.FAILED),
            cancelled=self._ends.count(ItemStatus.CANCELLED),
            images_delivered=self._images,
            usage=self._usage,
            elapsed_ms=int((time.monotonic() - started) * 1000),
        )
