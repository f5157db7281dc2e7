"""The service core every surface shares: prep -> provider -> store, as a stream of events.

Several images run as concurrent n=1 upstream calls (the API refuses streaming with n>1, and one
n=4 call would only answer when all four are done), so each image is stored and delivered the
moment its own call finishes. The job runs in a task of its own (`execution`); this module
accepts it and relays its events to the caller.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator

from opentelemetry import trace
from visionstudio.server.background import Periodic
from visionstudio.server.errors import DeadlineExceeded, ServiceError
from visionstudio.server.jobs.admission import Admission, Ticket
from visionstudio.server.jobs.creation import create_or_find
from visionstudio.server.jobs.events import Accepted, Finished, JobEvent
from visionstudio.server.jobs.execution import Executor
from visionstudio.server.jobs.making import ImageMaker
from visionstudio.server.jobs.queries import JobQueries, JobView, cancelled_error
from visionstudio.server.jobs.running import RunningJob
from visionstudio.server.jobs.spec import JobSpec, Usage
from visionstudio.server.jobs.validation import validate
from visionstudio.server.jobs.writes import DurableWrites
from visionstudio.server.observability import logs
from visionstudio.server.observability.metrics import Metrics
from visionstudio.server.prep import Plan, Prep
from visionstudio.server.provider.base import ImageProvider
from visionstudio.server.store import BlobStore, JobRecord, JobStatus, JobStore

log = logging.getLogger(__name__)

CANCEL_REASON = "cancelled by CancelJob"
tracer = trace.get_tracer(__name__)


class ImageStudio:
    def __init__(
        self,
        *,
        provider: ImageProvider,
        prep: Prep,
        blobs: BlobStore,
        jobs: JobStore,
        queries: JobQueries,
        max_input_bytes: int,
        admission: Admission,
        metrics: Metrics,
        progress_interval_s: float = 10.0,
        max_job_s: float = 900.0,
        detach: bool = True,
        idempotency_window_s: float = 86400.0,
        follow_interval_s: float = 0.5,
    ) -> None:
        self._provider = provider
        self._prep = prep
        self._jobs = jobs
        self._queries = queries
        self._max_input_bytes = max_input_bytes
        self._admission = admission
        self._max_job_s = max_job_s
        self._detach = detach
        self._idempotency_window_s = idempotency_window_s
        # Jobs running in this process by id, whether or not their caller is still there.
        self._live: dict[str, tuple[RunningJob, asyncio.Task[None]]] = {}
        # A job cancelled through another replica is seen here within this interval.
        self._follow = Periodic("job-follow", follow_interval_s, self._follow_records)
        self._writes = DurableWrites()
        maker = ImageMaker(
            provider=provider, blobs=blobs, jobs=jobs, queries=queries, metrics=metrics
        )
        self._executor = Executor(
            maker=maker,
            jobs=jobs,
            writes=self._writes,
            metrics=metrics,
            progress_interval_s=progress_interval_s,
        )
        metrics.in_flight.set_function(lambda: admission.in_flight)
        metrics.queued.set_function(lambda: admission.queued)

    async def run(self, spec: JobSpec, *, caller: str, timeout_s: float) -> AsyncIterator[JobEvent]:
        """Streams Accepted, one ImageReady per image as it is stored, then Finished.

        Raises ServiceError. When some images fail, the others are still delivered and stored
        first; the error then names the failed indices. The job itself runs in its own task: with
        `detach` it goes on (and keeps its images) when the caller goes away or stops waiting.
        A repeat of an idempotent request re-attaches to the first job instead.
        """
        started = time.monotonic()
        caller_deadline = started + timeout_s
        validate(spec, max_input_bytes=self._max_input_bytes)
        ticket = self._admission.admit(caller, spec.number_of_images)
        try:
            record, created = await create_or_find(
                self._jobs,
                spec,
                caller=caller,
                model=self._provider.rules.model,
                idempotency_window_s=self._idempotency_window_s,
            )
        except BaseException:
            ticket.close()
            raise
        if not created:
            ticket.close()
            log.info("idempotent repeat re-attached to job %s", record.id)
            async for event in self._queries.watch(
                record, include_data=spec.include_data, timeout_s=timeout_s
            ):
                yield event
            return
        logs.job_id.set(record.id)
        plan = await self._plan(spec, record, ticket, caller_deadline)
        log.info(
            "job accepted",
            extra={"operation": spec.operation.value, "images": record.number_of_images},
        )
        job_deadline = started + self._max_job_s if self._detach else caller_deadline
        job = RunningJob(spec, plan, ticket, record, started, job_deadline)
        # The task runs in a copy of this context, so the calling RPC's (or HTTP request's)
        # span is the parent of the job's, even when the job outlives the call.
        task = asyncio.create_task(self._executor.execute(job))
        self._live[job.id] = (job, task)
        task.add_done_callback(lambda _: self._live.pop(job.id, None))
        yield Accepted(
            job_id=record.id, number_of_images=record.number_of_images, model=record.model
        )
        try:
            async for event in _relay(job, caller_deadline, detach=self._detach):
                yield event
        finally:
            if not self._detach:
                task.cancel()

    async def _plan(
        self, spec: JobSpec, record: JobRecord, ticket: Ticket, caller_deadline: float
    ) -> Plan:
        """Prepares the inputs; a failure ends the job FAILED before it is announced."""
        try:
            async with asyncio.timeout(caller_deadline - time.monotonic()):
                with tracer.start_as_current_span("visionstudio.prep"):
                    return await self._prep.plan(spec, self._provider.rules)
        except BaseException as exc:
            ticket.close()
            error: BaseException = exc
            if isinstance(exc, TimeoutError):
                error = DeadlineExceeded("preparing the input images took longer than the deadline")
            text = error.message if isinstance(error, ServiceError) else "preparation failed"
            # Nothing was made: a repeat of this request must be judged (and refused) afresh.
            finishing = self._jobs.finish_job(
                record.id, JobStatus.FAILED, Usage(), text, release_key=True
            )
            await self._writes.run(finishing)
            if error is exc:
                raise
            raise error from None

    async def cancel(self, job_id: str, caller: str) -> JobView:
        """CancelJob: ends the caller's running job (here or on another replica); a job that
        has already ended is returned unchanged."""
        record = await self._queries.own_job(job_id, caller)
        if record.status is JobStatus.RUNNING:
            await self._jobs.cancel_job(record.id, CANCEL_REASON)
            self._stop(record.id, cancelled_error(record.id, CANCEL_REASON))
            log.info("job cancelled", extra={"job": record.id})
        return await self._queries.get(record.id, caller)

    def _stop(self, job_id: str, error: ServiceError) -> None:
        """Cancels a job running here (its upstream requests are aborted with its tasks)."""
        if (entry := self._live.get(job_id)) is not None:
            job, task = entry
            job.stop_error = error
            task.cancel()

    async def _follow_records(self) -> None:
        """Stops the jobs running here whose record says they were cancelled elsewhere."""
        for job_id in list(self._live):
            record = await self._jobs.get_job(job_id)
            if record is not None and record.status is JobStatus.CANCELLED:
                self._stop(job_id, cancelled_error(job_id, record.error))

    def start(self) -> None:
        self._follow.start()

    async def drain(self, grace_s: float) -> None:
        """At shutdown: lets running jobs finish within `grace_s`, then cancels the rest, and
        waits for their final records to be written (before the store closes)."""
        await self._follow.stop()
        if self._live:
            tasks = {task for _, task in self._live.values()}
            _, pending = await asyncio.wait(tasks, timeout=grace_s)
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
        await self._writes.flush()


async def _relay(
    job: RunningJob, caller_deadline: float, *, detach: bool
) -> AsyncIterator[JobEvent]:
    """The job's events until Finished; its final error, or the caller's deadline, raised."""
    while True:
        try:
            async with asyncio.timeout(max(0.0, caller_deadline - time.monotonic())):
                item = await job.outbox.get()
        except TimeoutError:
            error = DeadlineExceeded(
                "the deadline passed before the job finished"
                + ("; it goes on: WatchJob re-attaches to it" if detach else "")
            )
            error.metadata["job_id"] = job.id
            raise error from None
        if isinstance(item, ServiceError):
            raise item
        yield item
        if isinstance(item, Finished):
            return
