"""The batches this process drives, under a lease, as LiveJobs holds its jobs: renewed while
the driver runs, handed back at shutdown, and claimed from the store when it ran out (the
replica driving the batch died, or shut down) so the batch goes on here.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from visionstudio.server.background import Periodic
from visionstudio.server.jobs.batch_follow import batch_unavailable
from visionstudio.server.jobs.batch_run import BatchRun
from visionstudio.server.jobs.lease_clock import LeaseClock
from visionstudio.server.store import BatchStore
from visionstudio.server.store.batch_records import BatchItemRecord, BatchRecord, BatchStatus

log = logging.getLogger(__name__)

# Batches claimed per pass: what one replica takes on at once after another died.
CLAIM_LIMIT = 8

# A driver for a batch taken over from the store.
MakeRun = Callable[[BatchRecord, list[BatchItemRecord]], BatchRun]


class LiveBatches:
    def __init__(self, *, store: BatchStore, owner: str, lease_s: float, make_run: MakeRun) -> None:
        self._store = store
        self.owner = owner
        self.lease_s = lease_s
        self._make_run = make_run
        self._live: dict[str, tuple[BatchRun, asyncio.Task[None]]] = {}
        self._renewals = LeaseClock(lease_s)
        # Reading the records is also how a CancelBatch made through another replica is seen.
        self._follow = Periodic("batch-leases", min(1.0, lease_s / 4), self._follow_records)
        # At start too: a restarted single server carries on its unfinished batches.
        self._claims = Periodic("batch-resume", lease_s / 2, self.claim_expired, at_start=True)

    def get(self, batch_id: str) -> BatchRun | None:
        entry = self._live.get(batch_id)
        return entry[0] if entry is not None else None

    def task(self, batch_id: str) -> asyncio.Task[None] | None:
        entry = self._live.get(batch_id)
        return entry[1] if entry is not None else None

    def drive(self, run: BatchRun) -> None:
        batch_id = run.record.id
        task = asyncio.create_task(run.drive(), name=f"batch-{batch_id}")
        self._live[batch_id] = (run, task)
        self._renewals.held(batch_id)
        task.add_done_callback(lambda _: self._forget(batch_id, task))

    def _forget(self, batch_id: str, task: asyncio.Task[None]) -> None:
        self._live.pop(batch_id, None)
        self._renewals.drop(batch_id)
        if not task.cancelled() and (error := task.exception()) is not None:
            # Its lease is no longer renewed: a replica takes the batch over when it runs out.
            log.error("the driver of batch %s failed", batch_id, exc_info=error)

    async def claim_expired(self) -> None:
        for record in await self._store.claim_expired_batches(
            self.owner, self.lease_s, CLAIM_LIMIT
        ):
            items = await self._store.list_batch_items(record.id)
            pending = sum(item.job_id is None for item in items)
            log.info("resuming batch %s: %d items not started", record.id, pending)
            self.drive(self._make_run(record, items))

    async def _follow_records(self) -> None:
        for batch_id, (run, task) in list(self._live.items()):
            if self._renewals.due(batch_id):
                await self._store.renew_batch_lease(batch_id, self.owner, self.lease_s)
            record = await self._store.get_batch(batch_id)
            if record is None:
                continue
            if record.status is BatchStatus.CANCELLED and not run.cancelled:
                await run.cancel()
            elif record.status is BatchStatus.RUNNING and record.lease_owner != self.owner:
                # Our lease ran out (a stalled process) and another replica took the batch.
                log.warning("lost the lease of batch %s; it runs elsewhere", batch_id)
                run.stop_error = batch_unavailable(
                    batch_id, "the batch moved to another replica", "BATCH_NOT_LIVE"
                )
                task.cancel()

    def start(self) -> None:
        self._follow.start()
        self._claims.start()

    async def stop(self) -> None:
        """At shutdown: the drivers stop and their batches are handed back at once (their
        running items are durable jobs and go on)."""
        await self._claims.stop()
        await self._follow.stop()
        entries = list(self._live.values())
        for run, task in entries:
            run.stop_error = batch_unavailable(
                run.record.id, "the server is shutting down", "SERVER_SHUTTING_DOWN"
            )
            task.cancel()
        await asyncio.gather(*(task for _, task in entries), return_exceptions=True)
        for run, _ in entries:
            await self._store.release_batch_lease(run.record.id, self.owner)
