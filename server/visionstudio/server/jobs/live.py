"""The jobs this process is making: their leases renewed, a cancel made elsewhere noticed, and
at shutdown the grace for running upstream calls before the rest is handed back."""

from __future__ import annotations

import asyncio
import logging

from visionstudio.server.background import Periodic
from visionstudio.server.errors import ServiceError
from visionstudio.server.jobs.lease_clock import LeaseClock
from visionstudio.server.jobs.queries import cancelled_error, shutting_down_error
from visionstudio.server.jobs.running import RunningJob
from visionstudio.server.store import JobStatus, JobStore

log = logging.getLogger(__name__)


class LiveJobs:
    def __init__(
        self, *, jobs: JobStore, owner: str, lease_s: float, follow_interval_s: float
    ) -> None:
        self._jobs = jobs
        self.owner = owner
        self.lease_s = lease_s
        self._live: dict[str, tuple[RunningJob, asyncio.Task[None]]] = {}
        self._renewals = LeaseClock(lease_s)
        # Reading the records is how a cancel made through another replica is seen.
        self._follow = Periodic("job-leases", follow_interval_s, self._follow_records)

    def add(self, job: RunningJob, task: asyncio.Task[None]) -> None:
        self._live[job.id] = (job, task)
        self._renewals.held(job.id)
        task.add_done_callback(lambda _: self._forget(job.id))

    def _forget(self, job_id: str) -> None:
        self._live.pop(job_id, None)
        self._renewals.drop(job_id)

    def __contains__(self, job_id: str) -> bool:
        return job_id in self._live

    def stop(self, job_id: str, error: ServiceError, *, hand_back: bool = False) -> None:
        """Cancels a job running here (its upstream requests are aborted with its tasks);
        handed back, it is left running in the store for another owner."""
        if (entry := self._live.get(job_id)) is not None:
            job, task = entry
            job.stop_error = error
            job.handed_back = hand_back
            task.cancel()

    async def _follow_records(self) -> None:
        for job_id in list(self._live):
            if self._renewals.due(job_id):
                await self._jobs.renew_lease(job_id, self.owner, self.lease_s)
            record = await self._jobs.get_job(job_id)
            if record is None:
                continue
            if record.status is JobStatus.CANCELLED:
                self.stop(job_id, cancelled_error(job_id, record.error))
            elif record.lease_owner != self.owner:
                # Our lease ran out (a stalled process) and another replica took the job.
                log.warning("lost the lease of job %s; it runs elsewhere", job_id)
                self.stop(job_id, shutting_down_error(job_id), hand_back=True)

    def start(self) -> None:
        self._follow.start()

    async def drain(self, grace_s: float) -> None:
        """Hands back at once the jobs with no upstream call running; the others get `grace_s`
        for theirs, then whatever is left is handed back too."""
        for job, _ in list(self._live.values()):
            if job.rendering == 0:
                self.stop(job.id, shutting_down_error(job.id), hand_back=True)
        tasks = {task for _, task in self._live.values()}
        if tasks:
            await asyncio.wait(tasks, timeout=grace_s)
        for job_id in list(self._live):
            self.stop(job_id, shutting_down_error(job_id), hand_back=True)
        await asyncio.gather(*tasks, return_exceptions=True)
        await self._follow.stop()
