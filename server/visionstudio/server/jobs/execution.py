"""A job's execution loop: every image as its own task, events out as they happen, and the
job's final record."""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field

from opentelemetry import trace
from visionstudio.server.errors import DeadlineExceeded, Internal, ServiceError
from visionstudio.server.jobs.events import Finished, Preview, Progress
from visionstudio.server.jobs.inputs import delete_inputs
from visionstudio.server.jobs.making import ImageMaker
from visionstudio.server.jobs.running import ImageTask, RunningJob
from visionstudio.server.jobs.writes import DurableWrites
from visionstudio.server.observability.metrics import Metrics
from visionstudio.server.spec import Usage
from visionstudio.server.store import BlobStore, JobStatus, JobStore

log = logging.getLogger(__name__)
tracer = trace.get_tracer(__name__)


@dataclass
class Outcome:
    """What the image tasks came to, gathered as they finish."""

    total: int
    usage: Usage = field(default_factory=Usage)
    delivered: int = 0
    failures: list[tuple[int, ServiceError]] = field(default_factory=list)
    status: JobStatus = JobStatus.CANCELLED

    def settle(self) -> None:
        if not self.failures:
            self.status = JobStatus.SUCCEEDED
        else:
            self.status = JobStatus.PARTIAL if self.delivered else JobStatus.FAILED

    @property
    def error_text(self) -> str | None:
        if not self.failures:
            return None
        indices = ", ".join(str(i) for i, _ in sorted(self.failures, key=lambda f: f[0]))
        return f"{len(self.failures)} of {self.total} images failed (indices {indices})"


class Executor:
    def __init__(
        self,
        *,
        maker: ImageMaker,
        jobs: JobStore,
        blobs: BlobStore,
        owner: str,
        writes: DurableWrites,
        metrics: Metrics,
        progress_interval_s: float,
    ) -> None:
        self._maker = maker
        self._jobs = jobs
        self._blobs = blobs
        self._owner = owner
        self._writes = writes
        self._metrics = metrics
        self._progress_interval_s = progress_interval_s

    async def execute(self, job: RunningJob) -> None:
        """The job: events (and a final error) go to job.outbox; its record is written last."""
        spec = job.spec
        attributes = {
            "visionstudio.job_id": job.id,
            "visionstudio.operation": spec.operation.value,
            "visionstudio.images": spec.number_of_images,
        }
        with tracer.start_as_current_span("visionstudio.job", attributes=attributes) as span:
            tasks: dict[ImageTask, int] = {}
            for i in job.indices:
                task = asyncio.create_task(self._maker.make(job, i))
                task.add_done_callback(job.arrivals.put_nowait)
                tasks[task] = i
            outcome = Outcome(
                spec.number_of_images, usage=job.prior_usage, delivered=job.already_delivered
            )
            try:
                await self._gather(job, tasks, outcome)
                outcome.settle()
            except asyncio.CancelledError:
                _tell_stopped(job)
                raise
            finally:
                for task in tasks:
                    task.cancel()
                job.ticket.close()
                try:
                    if not await job.is_recorded():
                        pass  # never stored: its creator ends it
                    elif job.handed_back:
                        # Left running in the store: the next owner makes what is missing.
                        await self._writes.run(self._jobs.release_lease(job.id, self._owner))
                    else:
                        await self._finish(job, outcome, span)
                except asyncio.CancelledError:
                    # Stopped (e.g. cancelled) while its end was being recorded, after its
                    # images: its stream must still end, or its caller waits till its deadline.
                    _tell_stopped(job)
                    raise
            self._announce_end(job, outcome)

    async def _gather(self, job: RunningJob, tasks: dict[ImageTask, int], out: Outcome) -> None:
        pending = set(tasks)
        while pending:
            wait = min(job.deadline - time.monotonic(), self._progress_interval_s)
            try:
                async with asyncio.timeout(max(0.0, wait)):
                    arrival = await job.arrivals.get()
            except TimeoutError:
                if time.monotonic() >= job.deadline:
                    out.failures.extend((tasks[t], _deadline_error()) for t in pending)
                    return
                elapsed = int((time.monotonic() - job.started) * 1000)
                job.outbox.put_nowait(Progress(out.total - len(pending), out.total, elapsed))
                continue
            if isinstance(arrival, Preview):
                job.outbox.put_nowait(arrival)
                continue
            pending.discard(arrival)
            if arrival.cancelled():
                continue
            error = arrival.exception()
            if error is not None:
                out.failures.append((tasks[arrival], _as_service_error(error)))
                continue
            ready, used = arrival.result()
            out.usage += used
            out.delivered += 1
            job.outbox.put_nowait(ready)

    async def _finish(self, job: RunningJob, out: Outcome, span: trace.Span) -> None:
        error_text = out.error_text
        span.set_attributes(
            {"visionstudio.job_status": out.status, "visionstudio.images_delivered": out.delivered}
        )
        if error_text is not None:
            span.set_status(trace.StatusCode.ERROR, error_text)
        await self._writes.run(self._jobs.finish_job(job.id, out.status, out.usage, error_text))
        await self._writes.run(delete_inputs(job.id, self._blobs))
        tokens = self._metrics.tokens
        caller = job.record.caller
        tokens.labels("input_text", caller).inc(out.usage.input_text_tokens)
        tokens.labels("input_image", caller).inc(out.usage.input_image_tokens)
        tokens.labels("output", caller).inc(out.usage.output_tokens)
        log.info(
            "job finished",
            extra={"status": out.status, "delivered": out.delivered, "error": error_text},
        )

    def _announce_end(self, job: RunningJob, out: Outcome) -> None:
        if out.failures:
            first = out.failures[0][1]
            first.message = f"{out.error_text}; first error: {first.message}"
            first.metadata["failed_indices"] = ",".join(str(i) for i, _ in sorted(out.failures))
            first.metadata["job_id"] = job.id
            job.outbox.put_nowait(first)
            return
        elapsed_ms = int((time.monotonic() - job.started) * 1000)
        job.outbox.put_nowait(Finished(job.id, out.usage, out.delivered, elapsed_ms))


def _tell_stopped(job: RunningJob) -> None:
    if job.stop_error is not None:
        job.outbox.put_nowait(job.stop_error)


def _deadline_error() -> ServiceError:
    return DeadlineExceeded("the deadline passed before the image was ready")


def _as_service_error(error: BaseException) -> ServiceError:
    if isinstance(error, ServiceError):
        return error
    log.error("image task failed", exc_info=error)
    return Internal("internal error while making the image")
