"""Accepting a new job: its record, its inputs fetched and planned, and both stored.

The upstream calls need only the plan, so they start as soon as it is ready, while the record
and the inputs are still being written (about 1 ms for the record, 3 ms for a 3 MB input, of a
call that takes seconds). The job is announced, and its images and its end are written, only once
both are stored. A request with an idempotency key may name a job that already exists: nothing
starts for it before the store has said which.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass

from opentelemetry import trace
from visionstudio.server.errors import DeadlineExceeded, Internal, ServiceError
from visionstudio.server.jobs.admission import Ticket
from visionstudio.server.jobs.creation import create_or_find, new_record
from visionstudio.server.jobs.inputs import delete_inputs, fetch_inputs, store_inputs
from visionstudio.server.jobs.live import LiveJobs
from visionstudio.server.jobs.running import RunningJob
from visionstudio.server.jobs.writes import DurableWrites
from visionstudio.server.prep import Plan, Prep
from visionstudio.server.prep.fetch import Fetcher
from visionstudio.server.provider.models import ModelRules
from visionstudio.server.spec import JobSpec, Usage
from visionstudio.server.store import BlobStore, JobRecord, JobStatus, JobStore

tracer = trace.get_tracer(__name__)

Creating = asyncio.Future[tuple[JobRecord, bool]]


@dataclass
class Acceptance:
    jobs: JobStore
    blobs: BlobStore
    fetcher: Fetcher
    prep: Prep
    rules: ModelRules
    live: LiveJobs
    writes: DurableWrites
    idempotency_window_s: float

    async def create(self, spec: JobSpec, caller: str) -> tuple[JobRecord, Creating | None]:
        """(the new job's record, its write under way), or (the job an idempotent repeat
        names, None). Raises InvalidArgument when the key was used for other parameters."""
        wanted = await new_record(
            spec,
            caller=caller,
            model=self.rules.model,
            lease=(self.live.owner, self.live.lease_s),
        )
        creating = asyncio.ensure_future(
            create_or_find(self.jobs, wanted, idempotency_window_s=self.idempotency_window_s)
        )
        if spec.idempotency_key:
            record, created = await creating
            if not created:
                return record, None
        return wanted, creating

    async def prepare(
        self,
        spec: JobSpec,
        record: JobRecord,
        creating: Creating,
        ticket: Ticket,
        caller_deadline: float,
    ) -> tuple[JobSpec, Plan]:
        """The spec with its inputs' bytes (fetched once) and the plan; a failure ends the job
        FAILED before it is announced."""
        try:
            async with asyncio.timeout(caller_deadline - time.monotonic()):
                with tracer.start_as_current_span("visionstudio.prep"):
                    spec = await fetch_inputs(spec, self.fetcher, caller=record.caller)
                    return spec, await self.prep.plan(spec, self.rules)
        except BaseException as exc:
            ticket.close()
            error: BaseException = exc
            if isinstance(exc, TimeoutError):
                error = DeadlineExceeded("preparing the input images took longer than the deadline")
            text = error.message if isinstance(error, ServiceError) else "preparation failed"
            await self.writes.run(self._fail(record.id, creating, text))
            if error is exc:
                raise
            raise error from None

    async def store(self, job: RunningJob, creating: Creating) -> None:
        """Waits for the job's record and stores its inputs while its upstream calls run. If
        either fails the job is stopped and ended here, and the error raised."""
        await self.writes.run(self._store(job, creating))

    async def _store(self, job: RunningJob, creating: Creating) -> None:
        try:
            await creating
            await store_inputs(job.spec, job.id, self.blobs)
        except BaseException as exc:
            job.recorded.set_result(False)
            error = exc if isinstance(exc, ServiceError) else Internal("the job was not stored")
            self.live.stop(job.id, error)
            await self._fail(job.id, creating, f"the job was not stored: {error.message}")
            raise
        job.recorded.set_result(True)

    async def _fail(self, job_id: str, creating: Creating, text: str) -> None:
        """Ends a job that was never announced: FAILED, its key free for a new try (nothing was
        made), its inputs gone. A record that was never written needs nothing."""
        await asyncio.wait([creating])
        if creating.cancelled() or creating.exception() is not None:
            return
        await self.jobs.finish_job(job_id, JobStatus.FAILED, Usage(), text, release_key=True)
        await delete_inputs(job_id, self.blobs)
