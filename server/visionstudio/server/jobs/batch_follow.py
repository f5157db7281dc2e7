"""A batch followed from the store: what is done, then the rest as it is recorded, whichever
replica drives it (or none for a moment: its lease ran out and a replica is about to claim it).

A driver that takes a batch over starts its feed the same way, from what the store holds.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field

from visionstudio.server.errors import NotFound, Unavailable
from visionstudio.server.jobs.batch_events import (
    BatchAccepted,
    BatchEvent,
    BatchFinished,
    ItemEnded,
    ItemImage,
    ItemStarted,
)
from visionstudio.server.jobs.queries import JobQueries
from visionstudio.server.spec import Usage
from visionstudio.server.store import BatchStore
from visionstudio.server.store.batch_records import (
    BatchItemRecord,
    BatchRecord,
    BatchStatus,
    ItemStatus,
)

# How often a follower reads the store besides being woken by a change: an item's images are
# the job's changes, not the batch's.
POLL_S = 0.5
ENDED = frozenset({ItemStatus.SUCCEEDED, ItemStatus.FAILED, ItemStatus.CANCELLED})


def batch_unavailable(batch_id: str, why: str, reason: str) -> Unavailable:
    """What a batch stream ends with when it cannot go on here; the batch itself goes on."""
    return Unavailable(
        f"{why}; batch {batch_id} goes on: WatchBatch re-attaches to it",
        reason=reason,
        metadata={"batch_id": batch_id},
    )


@dataclass
class Catchup:
    """What a follower has been told of a batch's items, and their totals so far."""

    queries: JobQueries
    caller: str
    started: set[int] = field(default_factory=set)
    images: set[str] = field(default_factory=set)
    ends: dict[int, ItemStatus] = field(default_factory=dict)
    usage: Usage = field(default_factory=Usage)

    async def events(self, item: BatchItemRecord) -> list[BatchEvent]:
        """The item's news since the last call: its start, new images, its end."""
        if item.position in self.ends:
            return []
        events: list[BatchEvent] = []
        ended = item.status in ENDED
        if item.job_id is not None:
            if item.position not in self.started:
                self.started.add(item.position)
                events.append(ItemStarted(item.item_id, item.job_id))
            # Read after the item's status: an ended item's images are all stored by then.
            with contextlib.suppress(NotFound):  # (its job deleted by retention meanwhile)
                view = await self.queries.get(item.job_id, self.caller)
                for image in view.images:
                    if image.image_id not in self.images:
                        self.images.add(image.image_id)
                        events.append(ItemImage(item.item_id, item.job_id, image))
                if ended:
                    self.usage += view.job.usage or Usage()
        if ended:
            self.ends[item.position] = item.status
            events.append(ItemEnded(item.item_id, item.job_id, item.status, item.error))
        return events

    def summary(self, record: BatchRecord, elapsed_s: float) -> BatchFinished:
        statuses = list(self.ends.values())
        return BatchFinished(
            batch_id=record.id,
            succeeded=statuses.count(ItemStatus.SUCCEEDED),
            failed=statuses.count(ItemStatus.FAILED),
            cancelled=statuses.count(ItemStatus.CANCELLED),
            images_delivered=len(self.images),
            usage=self.usage,
            elapsed_ms=int(elapsed_s * 1000),
        )


async def follow_stored(
    record: BatchRecord,
    *,
    store: BatchStore,
    queries: JobQueries,
    stopping: Callable[[], bool],
) -> AsyncIterator[BatchEvent]:
    """The batch's events as the store records them, until its summary."""
    yield BatchAccepted(record.id, record.item_count)
    seen = Catchup(queries, record.caller)
    async with store.changes(record.id) as changed:
        while True:
            if stopping():
                raise batch_unavailable(
                    record.id, "the server is shutting down", "SERVER_SHUTTING_DOWN"
                )
            # Cleared before reading, so a change made meanwhile wakes the wait below.
            changed.clear()
            # The batch before its items: once it has ended, every item read after has too.
            batch = await store.get_batch(record.id) or record
            for item in await store.list_batch_items(record.id):
                for event in await seen.events(item):
                    yield event
            if batch.status is not BatchStatus.RUNNING:
                yield seen.summary(batch, batch.updated_at - batch.created_at)
                return
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(POLL_S):
                    await changed.wait()


def elapsed_since(record: BatchRecord) -> float:
    return time.time() - record.created_at
