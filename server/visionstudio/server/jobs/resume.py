"""Carrying on jobs whose lease ran out: their replica died, or handed them back at shutdown.

Only the images still missing are made; a job that can no longer be made ends with a reason.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Callable

from visionstudio.server.background import Periodic
from visionstudio.server.errors import ResourceExhausted, ServiceError
from visionstudio.server.jobs.admission import Admission
from visionstudio.server.jobs.inputs import delete_inputs, load_inputs
from visionstudio.server.jobs.live import LiveJobs
from visionstudio.server.jobs.running import RunningJob
from visionstudio.server.jobs.writes import DurableWrites
from visionstudio.server.observability.metrics import Metrics
from visionstudio.server.prep import Prep
from visionstudio.server.provider.base import ImageProvider
from visionstudio.server.spec import Usage, spec_from_params
from visionstudio.server.store import BlobStore, JobRecord, JobStatus, JobStore

log = logging.getLogger(__name__)

# Jobs claimed per pass: what one replica takes on at once after another died.
CLAIM_BATCH = 16


class Resumer:
    def __init__(
        self,
        *,
        jobs: JobStore,
        blobs: BlobStore,
        prep: Prep,
        provider: ImageProvider,
        admission: Admission,
        live: LiveJobs,
        writes: DurableWrites,
        launch: Callable[[RunningJob], object],
        max_job_s: float,
        interval_s: float,
        metrics: Metrics,
    ) -> None:
        self._jobs = jobs
        self._blobs = blobs
        self._prep = prep
        self._provider = provider
        self._admission = admission
        self._live = live
        self._writes = writes
        self._launch = launch
        self._max_job_s = max_job_s
        self._metrics = metrics
        # At start too: a restarted single server resumes its unfinished jobs.
        self._periodic = Periodic("job-resume", interval_s, self.resume_expired, at_start=True)

    def start(self) -> None:
        self._periodic.start()

    async def stop(self) -> None:
        await self._periodic.stop()

    async def resume_expired(self) -> None:
        owner, lease_s = self._live.owner, self._live.lease_s
        for record in await self._jobs.claim_expired(owner, lease_s, CLAIM_BATCH):
            try:
                await self._resume(record)
            except ResourceExhausted:
                # No room here now: handed back for a replica (or a later pass) with room.
                await self._jobs.release_lease(record.id, owner)

    async def _resume(self, record: JobRecord) -> None:
        remaining_s = record.created_at + self._max_job_s - time.time()
        images = await self._jobs.list_images(record.id)
        done = {image.index for image in images}
        # What the earlier owners paid for stays counted in the job's usage.
        prior_usage = sum((i.usage for i in images if i.usage is not None), Usage())
        if remaining_s <= 0:
            return await self._end(record, done, "its deadline passed before it could be finished")
        try:
            stored = spec_from_params(record.rpc, record.params)
        except (KeyError, ValueError, StopIteration):
            return await self._end(record, done, "its stored parameters cannot be read")
        # Nobody listens to a resumed job's own stream: watchers read the store.
        spec = await load_inputs(
            dataclasses.replace(stored, include_data=False), record.id, self._blobs
        )
        if spec is None:
            return await self._end(record, done, "its input images are no longer stored")
        missing = tuple(i for i in range(record.number_of_images) if i not in done)
        if not missing:
            # Its last owner stored every image but died before recording the end.
            return await self._end(record, done, None)
        ticket = self._admission.admit(record.caller, len(missing))
        try:
            plan = await self._prep.plan(spec, self._provider.rules)
        except ServiceError as error:
            ticket.close()
            return await self._end(record, done, f"its inputs cannot be prepared: {error.message}")
        now = time.monotonic()
        job = RunningJob(
            spec,
            plan,
            ticket,
            record,
            started=now - (time.time() - record.created_at),
            deadline=now + remaining_s,
            already_delivered=len(done),
            prior_usage=prior_usage,
            indices=missing,
        )
        log.info("resuming job %s: %d images to make", record.id, len(missing))
        self._metrics.jobs_resumed.labels("resumed").inc()
        self._launch(job)

    async def _end(self, record: JobRecord, done: set[int], reason: str | None) -> None:
        if reason is None:
            status = JobStatus.SUCCEEDED
        else:
            status = JobStatus.PARTIAL if done else JobStatus.FAILED
            log.warning("job %s cannot be carried on: %s", record.id, reason)
        self._metrics.jobs_resumed.labels("ended").inc()
        await self._writes.run(self._jobs.finish_job(record.id, status, Usage(), reason))
        await self._writes.run(delete_inputs(record.id, self._blobs))
