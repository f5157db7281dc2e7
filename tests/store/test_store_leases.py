"""Leases on running jobs and cancelling: one contract for every backend."""

from __future__ import annotations

import asyncio
from dataclasses import replace

from visionstudio.server.spec import Usage
from visionstudio.server.store import JobStatus, JobStore

from tests.store.conftest import Backend
from tests.store.samples import new_image, new_job


async def test_only_an_expired_lease_is_claimed_and_by_one_owner(backend: Backend) -> None:
    a, b = await backend.open(), await backend.open()  # two replicas on one database
    held = replace(new_job(), lease_owner="a", lease_until=1e12)
    lapsed = replace(new_job(), lease_owner="dead", lease_until=1.0)
    done = replace(new_job(), lease_owner="dead", lease_until=1.0)
    for job in (held, lapsed, done):
        await a.create_job(job)
    await a.finish_job(done.id, JobStatus.SUCCEEDED, Usage())

    claims = await asyncio.gather(a.claim_expired("a", 30, 10), b.claim_expired("b", 30, 10))

    assert sorted(job.id for claim in claims for job in claim) == [lapsed.id]
    winner = "a" if claims[0] else "b"
    stored = await a.get_job(lapsed.id)
    assert stored is not None and stored.lease_owner == winner and stored.lease_until > 1e9
    # Handed back, it is claimable at once; renewing someone else's lease does nothing.
    await a.renew_lease(lapsed.id, "intruder", 3600)
    assert (await a.get_job(lapsed.id)) == stored
    await a.release_lease(lapsed.id, winner)
    assert [job.id for job in await b.claim_expired("b", 30, 10)] == [lapsed.id]
    await a.close()
    await b.close()


async def test_a_cancelled_job_keeps_its_reason_when_its_runner_finishes(store: JobStore) -> None:
    job, _ = await store.create_job(new_job())
    await store.cancel_job(job.id, "cancelled by CancelJob")
    await store.finish_job(job.id, JobStatus.CANCELLED, Usage(output_tokens=7), None)
    stored = await store.get_job(job.id)
    assert stored is not None and stored.status is JobStatus.CANCELLED
    assert stored.error == "cancelled by CancelJob" and stored.usage == Usage(output_tokens=7)
    # An ended job is not cancelled again.
    await store.cancel_job(job.id, "again")
    assert (await store.get_job(job.id)) == stored


async def test_a_change_wakes_the_watchers_of_the_job(backend: Backend) -> None:
    a, b = await backend.open(), await backend.open()
    job, _ = await a.create_job(new_job())
    # PostgreSQL tells every replica (LISTEN/NOTIFY); SQLite the process that made the change.
    watcher = b if b.notifies else a
    async with watcher.changes(job.id) as changed:
        await a.add_image(new_image(job.id, 0))
        await asyncio.wait_for(changed.wait(), timeout=30)
        changed.clear()
        await a.finish_job(job.id, JobStatus.SUCCEEDED, Usage())
        await asyncio.wait_for(changed.wait(), timeout=30)
    await a.close()
    await b.close()
