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
from collections.abc import AsyncIterator, Callable
from typing import Protocol, runtime_checkable

from opentelemetry import trace
from visionstudio.server.errors import DeadlineExceeded, ServiceError
from visionstudio.server.jobs.acceptance import Acceptance
from visionstudio.server.jobs.admission import Admission
from visionstudio.server.jobs.events import Accepted, Finished, JobEvent
from visionstudio.server.jobs.execution import Executor
from visionstudio.server.jobs.inputs import delete_inputs
from visionstudio.server.jobs.links import new_id
from visionstudio.server.jobs.live import LiveJobs
from visionstudio.server.jobs.making import ImageMaker
from visionstudio.server.jobs.queries import JobQueries, JobView, cancelled_error
from visionstudio.server.jobs.resume import Resumer
from visionstudio.server.jobs.running import RunningJob
from visionstudio.server.jobs.validation import validate
from visionstudio.server.jobs.writes import DurableWrites
from visionstudio.server.observability import logs
from visionstudio.server.observability.metrics import Metrics
from visionstudio.server.prep import Prep
from visionstudio.server.prep.fetch import Fetcher
from visionstudio.server.provider.base import ImageProvider
from visionstudio.server.spec import JobSpec
from visionstudio.server.store import BlobStore, JobStatus, JobStore

log = logging.getLogger(__name__)

CANCEL_REASON = "cancelled by CancelJob"
tracer = trace.get_tracer(__name__)


@runtime_checkable
class EstimatesWait(Protocol):
    """A provider that can say how long until its next call may start (e.g. after a 429's
    Retry-After): a caller whose deadline passed is told to come back then."""

    def estimated_wait(self) -> float: ...


class ImageStudio:
    def __init__(
        self,
        *,
        provider: ImageProvider,
        prep: Prep,
        fetcher: Fetcher,
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
        lease_s: float = 30.0,
        follow_interval_s: float = 0.5,
    ) -> None:
        self._provider = provider
        self._blobs = blobs
        self._jobs = jobs
        self._queries = queries
        self._max_input_bytes = max_input_bytes
        self._admission = admission
        self._max_job_s = max_job_s
        self._detach = detach
        # Jobs running in this process, whether or not their caller is still there.
        self._live = LiveJobs(
            jobs=jobs, owner=new_id(), lease_s=lease_s, follow_interval_s=follow_interval_s
        )
        self._writes = DurableWrites()
        self._acceptance = Acceptance(
            jobs=jobs,
            blobs=blobs,
            fetcher=fetcher,
            prep=prep,
            rules=provider.rules,
            live=self._live,
            writes=self._writes,
            idempotency_window_s=idempotency_window_s,
        )
        maker = ImageMaker(
            provider=provider, blobs=blobs, jobs=jobs, queries=queries, metrics=metrics
        )
        self._executor = Executor(
            maker=maker,
            jobs=jobs,
            blobs=blobs,
            owner=self._live.owner,
            writes=self._writes,
            metrics=metrics,
            progress_interval_s=progress_interval_s,
        )
        self._resumer = Resumer(
            jobs=jobs,
            blobs=blobs,
            prep=prep,
            provider=provider,
            admission=admission,
            live=self._live,
            writes=self._writes,
            launch=self._launch,
            max_job_s=max_job_s,
            # Half a lease: a job whose replica died waits at most 1.5 leases for a new owner.
            interval_s=lease_s / 2,
            metrics=metrics,
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
            record, creating = await self._acceptance.create(spec, caller)
        except BaseException:
            ticket.close()
            raise
        if creating is None:
            ticket.close()
            log.info("idempotent repeat re-attached to job %s", record.id)
            async for event in self._queries.watch(
                record, include_data=spec.include_data, timeout_s=timeout_s
            ):
                yield event
            return
        logs.job_id.set(record.id)
        spec, plan = await self._acceptance.prepare(spec, record, creating, ticket, caller_deadline)
        log.info(
            "job accepted",
            extra={"operation": spec.operation.value, "images": record.number_of_images},
        )
        job_deadline = started + self._max_job_s if self._detach else caller_deadline
        recorded = asyncio.get_running_loop().create_future()
        job = RunningJob(spec, plan, ticket, record, started, job_deadline, recorded=recorded)
        task = self._launch(job)
        try:
            await self._acceptance.store(job, creating)
            yield Accepted(
                job_id=record.id, number_of_images=record.number_of_images, model=record.model
            )
            relay = _relay(job, caller_deadline, detach=self._detach, retry_after=self._retry_hint)
            async for event in relay:
                yield event
        finally:
            if not self._detach:
                task.cancel()

    def _retry_hint(self) -> float:
        """Seconds after which watching the job again is worth it (at least one)."""
        wait = self._provider.estimated_wait() if isinstance(self._provider, EstimatesWait) else 0.0
        return max(1.0, wait)

    def _launch(self, job: RunningJob) -> asyncio.Task[None]:
        # The task runs in a copy of this context, so the calling RPC's (or HTTP request's)
        # span is the parent of the job's, even when the job outlives the call.
        task = asyncio.create_task(self._executor.execute(job))
        self._live.add(job, task)
        return task

    async def cancel(self, job_id: str, caller: str) -> JobView:
        """CancelJob: ends the caller's running job (here or on another replica); a job that
        has already ended is returned unchanged."""
        record = await self._queries.own_job(job_id, caller)
        if record.status is JobStatus.RUNNING:
            await self._jobs.cancel_job(record.id, CANCEL_REASON)
            self._live.stop(record.id, cancelled_error(record.id, CANCEL_REASON))
            if record.lease_until < time.time():
                # Nobody holds it (waiting for a new owner): nobody else deletes its inputs.
                await self._writes.run(delete_inputs(record.id, self._blobs))
            log.info("job cancelled", extra={"job": record.id})
        return await self._queries.get(record.id, caller)

    def start(self) -> None:
        self._live.start()
        self._resumer.start()

    async def drain(self, grace_s: float) -> None:
        """At shutdown: running upstream calls get `grace_s`, the rest of every job is handed
        back (lease released), and the last records are written before the store closes."""
        await self._resumer.stop()
        await self._live.drain(grace_s)
        await self._writes.flush()


async def _relay(
    job: RunningJob, caller_deadline: float, *, detach: bool, retry_after: Callable[[], float]
) -> AsyncIterator[JobEvent]:
    """The job's events until Finished; its final error, or the caller's deadline, raised.
    A detached job outlives that deadline: the error names it and says when to watch again."""
    while True:
        try:
            async with asyncio.timeout(max(0.0, caller_deadline - time.monotonic())):
                item = await job.outbox.get()
        except TimeoutError:
            error = DeadlineExceeded(
                "the deadline passed before the job finished"
                + ("; it goes on: WatchJob re-attaches to it" if detach else ""),
                retry_after_s=retry_after() if detach else None,
            )
            error.metadata["job_id"] = job.id
            raise error from None
        if isinstance(item, ServiceError):
            raise item
        yield item
        if isinstance(item, Finished):
            return
