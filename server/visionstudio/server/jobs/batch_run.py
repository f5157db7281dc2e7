"""Drives one batch: its items run as ordinary jobs, a few at a time, and its feed tells what
happens.

Items go to the runner in turn (`concurrency` at once per batch), through the same admission,
per-key caps and provider budget as any call: a large batch takes its share of its key's slots
instead of queueing all its images at once, so other keys' calls keep their usual latency. An
item refused for capacity waits and tries again; any other error ends that item alone.

A driver that takes over a batch (its first driver died or shut down) starts from the store:
the ended items are told from their jobs, a RUNNING item's job (carried on by the job resumer)
is followed to its end, and the PENDING items are started from their stored requests.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass

from visionstudio.server.errors import JobCancelled, JobFailed, ResourceExhausted, ServiceError
from visionstudio.server.jobs.batch_events import BatchAccepted, ItemEnded, ItemImage, ItemStarted
from visionstudio.server.jobs.batch_feed import BatchFeed
from visionstudio.server.jobs.batch_follow import ENDED, Catchup, batch_unavailable, elapsed_since
from visionstudio.server.jobs.batch_specs import BatchItem as BatchItem
from visionstudio.server.jobs.batch_specs import drop_inputs, item_key, load_spec
from visionstudio.server.jobs.events import Accepted, Finished, ImageReady, JobEvent
from visionstudio.server.jobs.queries import JobQueries
from visionstudio.server.jobs.runner import ImageStudio
from visionstudio.server.spec import JobSpec
from visionstudio.server.store import BatchStore, BlobStore
from visionstudio.server.store.batch_records import (
    BatchItemRecord,
    BatchRecord,
    BatchStatus,
    ItemStatus,
)

CANCEL_REASON = "cancelled by CancelBatch"
# Capacity refusals an item waits out (admission's own reasons) instead of failing.
_WAIT_REASONS = frozenset({"SERVER_BUSY", "KEY_CONCURRENCY_LIMIT", "KEY_RATE_LIMIT"})
_MIN_WAIT_S = 0.2


@dataclass(frozen=True)
class Services:
    """What every driver works with."""

    studio: ImageStudio
    store: BatchStore
    queries: JobQueries
    blobs: BlobStore
    concurrency: int
    job_timeout_s: float


class BatchRun:
    def __init__(
        self,
        record: BatchRecord,
        items: list[BatchItemRecord],
        services: Services,
        specs: dict[int, JobSpec] | None = None,
    ) -> None:
        self.record = record
        self.feed = BatchFeed()
        self._items = items
        self._do = services
        # The specs of a batch created here; a driver that took the batch over loads them.
        self._specs = specs or {}
        self._seen = Catchup(services.queries, record.caller)
        # Items whose job is running, by position: what CancelBatch cancels.
        self.running: dict[int, str] = {}
        self.cancelled = False
        self._cancelling = asyncio.Event()
        # Set by whoever stops the driver before the end: what its followers' streams end with.
        self.stop_error: ServiceError | None = None

    async def drive(self) -> None:
        self.feed.publish(BatchAccepted(self.record.id, len(self._items)))
        try:
            todo = []
            for item in self._items:
                if item.status in ENDED:
                    for event in await self._seen.events(item):
                        self.feed.publish(event)
                else:
                    todo.append(item)
            turns = iter(todo)
            workers = min(self._do.concurrency, len(todo))
            await asyncio.gather(*(self._work(turns) for _ in range(workers)))
            # Before the end is recorded: a driver that dies in between leaves nothing behind.
            await drop_inputs(self.record.id, len(self._items), self._do.blobs)
            await self._do.store.finish_batch(self.record.id, self._status())
            self.feed.publish(self._seen.summary(self.record, elapsed_since(self.record)))
        except BaseException:
            # Followers must learn their stream is incomplete, however the driver stopped (its
            # failure is logged, with its traceback, where its task ends: LiveBatches).
            stopped = batch_unavailable(
                self.record.id, "the batch's driver stopped here", "BATCH_NOT_LIVE"
            )
            self.feed.close(self.stop_error or stopped)
            raise
        self.feed.close()

    async def cancel(self) -> None:
        """Ends every unfinished item: the waiting ones at once (one write for all of them),
        the running ones through their jobs."""
        self.cancelled = True
        self._cancelling.set()
        await self._do.store.cancel_pending_items(self.record.id, CANCEL_REASON)
        running = list(self.running.values())
        await asyncio.gather(*(self._do.studio.cancel(j, self.record.caller) for j in running))

    async def _work(self, turns: Iterator[BatchItemRecord]) -> None:
        # The workers share one iterator: each takes the next item when its last one ended.
        for item in turns:
            await self._item(item)

    async def _item(self, item: BatchItemRecord) -> None:
        if self.cancelled and item.status is ItemStatus.PENDING:
            # Never started: `cancel` has marked it in the store already.
            return self._ended(item, item.job_id, ItemStatus.CANCELLED, CANCEL_REASON, None)
        job_id: str | None = item.job_id
        error: ServiceError | None = None
        while True:
            try:
                await self._relay(item, await self._events(item))
                error = None
                break
            except ResourceExhausted as exc:
                error = exc
                if exc.reason not in _WAIT_REASONS or item.position in self.running:
                    break
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(max(_MIN_WAIT_S, exc.retry_after_s or 0.0)):
                        await self._cancelling.wait()
                if self.cancelled:
                    error = JobCancelled(CANCEL_REASON)
                    break
            except ServiceError as exc:
                error = exc
                break
            finally:
                job_id = self.running.pop(item.position, job_id)
        await self._end(item, job_id, error)

    async def _events(self, item: BatchItemRecord) -> AsyncIterator[JobEvent]:
        """The item's job events: its job followed when it has one, else a new job."""
        caller, timeout_s = self.record.caller, self._do.job_timeout_s
        if item.status is ItemStatus.RUNNING and item.job_id is not None:
            job = await self._do.queries.own_job(item.job_id, caller)
            include_data = bool(job.params.get("include_data"))
            return self._do.queries.watch(job, include_data=include_data, timeout_s=timeout_s)
        spec = self._specs.pop(item.position, None) or await self._stored_spec(item)
        # The item's own key: a job created just before a crash is found, not made twice.
        spec = dataclasses.replace(spec, idempotency_key=item_key(self.record.id, item.position))
        return self._do.studio.run(spec, caller=caller, timeout_s=timeout_s)

    async def _stored_spec(self, item: BatchItemRecord) -> JobSpec:
        request = await self._do.store.get_item_request(self.record.id, item.position)
        spec = None
        if request is not None:
            with contextlib.suppress(KeyError, ValueError, StopIteration):
                spec = await load_spec(request, self.record.id, item.position, self._do.blobs)
        if spec is None:
            raise JobFailed(
                f"item {item.item_id} cannot be started: its request or input images are"
                " no longer stored"
            )
        return spec

    async def _relay(self, item: BatchItemRecord, events: AsyncIterator[JobEvent]) -> None:
        """Runs (or follows) the item's job to its end, publishing its events."""
        async for event in events:
            if isinstance(event, Accepted):
                self.running[item.position] = event.job_id
                await self._do.store.update_batch_item(
                    self.record.id, item.position, ItemStatus.RUNNING, job_id=event.job_id
                )
                self._seen.started.add(item.position)
                self.feed.publish(ItemStarted(item.item_id, event.job_id))
                if self.cancelled:
                    # CancelBatch came while this job was being accepted, after it had
                    # cancelled the running ones: this one stops too.
                    await self._do.studio.cancel(event.job_id, self.record.caller)
            elif isinstance(event, ImageReady) and event.image_id not in self._seen.images:
                self._seen.images.add(event.image_id)
                self.feed.publish(ItemImage(item.item_id, self.running[item.position], event))
            elif isinstance(event, Finished):
                self._seen.usage += event.usage

    async def _end(
        self, item: BatchItemRecord, job_id: str | None, error: ServiceError | None
    ) -> None:
        if error is None:
            status, text, reason = ItemStatus.SUCCEEDED, None, None
        else:
            cancelled = isinstance(error, JobCancelled)
            status = ItemStatus.CANCELLED if cancelled else ItemStatus.FAILED
            text, reason = error.message, error.reason
        await self._do.store.update_batch_item(
            self.record.id, item.position, status, job_id=job_id, error=text
        )
        self._ended(item, job_id, status, text, reason)

    def _ended(
        self,
        item: BatchItemRecord,
        job_id: str | None,
        status: ItemStatus,
        text: str | None,
        reason: str | None,
    ) -> None:
        self._seen.ends[item.position] = status
        self.feed.publish(ItemEnded(item.item_id, job_id, status, text, reason))

    def _status(self) -> BatchStatus:
        ends = list(self._seen.ends.values())
        succeeded = ends.count(ItemStatus.SUCCEEDED)
        if self.cancelled:
            return BatchStatus.CANCELLED
        if succeeded == len(ends):
            return BatchStatus.SUCCEEDED
        return BatchStatus.PARTIAL if succeeded else BatchStatus.FAILED
