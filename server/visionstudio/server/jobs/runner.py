"""The service core every surface shares: prep -> provider -> store, as a stream of events.

Several images run as concurrent n=1 upstream calls (the API refuses streaming with n>1, and one
n=4 call would only answer when all four are done), so each image is stored and delivered the
moment its own call finishes.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Coroutine
from typing import Any

from opentelemetry import trace
from visionstudio.server.errors import DeadlineExceeded, Internal, InvalidArgument, ServiceError
from visionstudio.server.jobs.admission import Admission, Ticket
from visionstudio.server.jobs.events import (
    Accepted,
    Finished,
    ImageReady,
    JobEvent,
    Preview,
    Progress,
)
from visionstudio.server.jobs.links import new_id
from visionstudio.server.jobs.queries import JobQueries
from visionstudio.server.jobs.spec import JobSpec, Usage
from visionstudio.server.jobs.validation import validate
from visionstudio.server.observability import logs
from visionstudio.server.observability.metrics import Metrics
from visionstudio.server.prep import Plan, Prep
from visionstudio.server.provider.base import ImageProvider, RenderRequest
from visionstudio.server.store import BlobStore, ImageRecord, JobRecord, JobStatus, JobStore

log = logging.getLogger(__name__)
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
    ) -> None:
        self._provider = provider
        self._prep = prep
        self._blobs = blobs
        self._jobs = jobs
        self._queries = queries
        self._max_input_bytes = max_input_bytes
        self._admission = admission
        self._metrics = metrics
        self._progress_interval_s = progress_interval_s
        self._max_job_s = max_job_s
        self._detach = detach
        self._idempotency_window_s = idempotency_window_s
        # Jobs running in this process, whether or not their caller is still there.
        self._live: set[asyncio.Task[None]] = set()
        # Job-record writes that must outlive a cancellation (and the shutdown waits for).
        self._writes: set[asyncio.Future[None]] = set()
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
        model = self._provider.rules.model
        try:
            wanted = JobRecord(
                id=new_id(),
                rpc=spec.operation.value,
                caller=caller,
                model=model,
                params=spec.params(),
                idempotency_key=spec.idempotency_key or None,
                request_hash=spec.fingerprint(),
                number_of_images=spec.number_of_images,
            )
            job, created = await self._jobs.create_job(
                wanted, idempotency_window_s=self._idempotency_window_s
            )
        except BaseException:
            ticket.close()
            raise
        if not created:
            ticket.close()
            if job.request_hash != wanted.request_hash:
                raise InvalidArgument(
                    "idempotency_key",
                    f"was used for job {job.id} with other parameters; use a new key",
                    reason="IDEMPOTENCY_KEY_REUSED",
                )
            log.info("idempotent repeat re-attached to job %s", job.id)
            async for event in self._queries.watch(
                job, include_data=spec.include_data, timeout_s=timeout_s
            ):
                yield event
            return
        logs.job_id.set(job.id)
        try:
            async with asyncio.timeout(caller_deadline - time.monotonic()):
                with tracer.start_as_current_span("visionstudio.prep"):
                    plan = await self._prep.plan(spec, self._provider.rules)
        except BaseException as exc:
            ticket.close()
            error: BaseException = exc
            if isinstance(exc, TimeoutError):
                error = DeadlineExceeded("preparing the input images took longer than the deadline")
            text = error.message if isinstance(error, ServiceError) else "preparation failed"
            # Nothing was made: a repeat of this request must be judged (and refused) afresh.
            finishing = self._jobs.finish_job(
                job.id, JobStatus.FAILED, Usage(), text, release_key=True
            )
            await self._record(finishing)
            if error is exc:
                raise
            raise error from None
        log.info(
            "job accepted",
            extra={"operation": spec.operation.value, "images": job.number_of_images},
        )
        job_deadline = started + self._max_job_s if self._detach else caller_deadline
        outbox: asyncio.Queue[JobEvent | ServiceError] = asyncio.Queue()
        # The task runs in a copy of this context, so the calling RPC's (or HTTP request's)
        # span is the parent of the job's, even when the job outlives the call.
        task = asyncio.create_task(
            self._execute(spec, plan, ticket, job, started, job_deadline, outbox)
        )
        self._live.add(task)
        task.add_done_callback(self._live.discard)
        yield Accepted(job_id=job.id, number_of_images=job.number_of_images, model=model)
        try:
            while True:
                try:
                    async with asyncio.timeout(max(0.0, caller_deadline - time.monotonic())):
                        item = await outbox.get()
                except TimeoutError:
                    error = DeadlineExceeded(
                        "the deadline passed before the job finished"
                        + ("; it goes on: WatchJob re-attaches to it" if self._detach else "")
                    )
                    error.metadata["job_id"] = job.id
                    raise error from None
                if isinstance(item, ServiceError):
                    raise item
                yield item
                if isinstance(item, Finished):
                    return
        finally:
            if not self._detach:
                task.cancel()

    async def drain(self, grace_s: float) -> None:
        """At shutdown: lets running jobs finish within `grace_s`, then cancels the rest, and
        waits for their final records to be written (before the store closes)."""
        if self._live:
            _, pending = await asyncio.wait(set(self._live), timeout=grace_s)
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
        await asyncio.gather(*self._writes, return_exceptions=True)

    async def _record(self, write: Coroutine[Any, Any, None]) -> None:
        """Runs a job-record write to the end even if the caller is cancelled meanwhile."""
        future = asyncio.ensure_future(write)
        self._writes.add(future)
        future.add_done_callback(self._writes.discard)
        await asyncio.shield(future)

    async def _execute(
        self,
        spec: JobSpec,
        plan: Plan,
        ticket: Ticket,
        job: JobRecord,
        started: float,
        deadline: float,
        outbox: asyncio.Queue[JobEvent | ServiceError],
    ) -> None:
        """The job: every image as its own task; events (and a final error) go to `outbox`."""
        with tracer.start_as_current_span(
            "visionstudio.job",
            attributes={
                "visionstudio.job_id": job.id,
                "visionstudio.operation": spec.operation.value,
                "visionstudio.images": spec.number_of_images,
            },
        ) as span:
            job_id = job.id
            n = spec.number_of_images
            # Finished image tasks and previews arrive on one queue, in the order they happen.
            arrivals: asyncio.Queue[asyncio.Task[tuple[ImageReady, Usage]] | Preview] = (
                asyncio.Queue()
            )
            tasks: dict[asyncio.Task[tuple[ImageReady, Usage]], int] = {}
            for i in range(n):
                task = asyncio.create_task(
                    self._one(job, i, spec, plan, ticket, deadline, arrivals)
                )
                task.add_done_callback(arrivals.put_nowait)
                tasks[task] = i
            usage = Usage()
            delivered = 0
            failures: list[tuple[int, ServiceError]] = []
            status = JobStatus.CANCELLED
            try:
                pending = set(tasks)
                while pending:
                    wait = min(deadline - time.monotonic(), self._progress_interval_s)
                    try:
                        async with asyncio.timeout(max(0.0, wait)):
                            arrival = await arrivals.get()
                    except TimeoutError:
                        if time.monotonic() >= deadline:
                            failures.extend((tasks[t], _deadline_error()) for t in pending)
                            break
                        elapsed = int((time.monotonic() - started) * 1000)
                        outbox.put_nowait(Progress(n - len(pending), n, elapsed))
                        continue
                    if isinstance(arrival, Preview):
                        outbox.put_nowait(arrival)
                        continue
                    pending.discard(arrival)
                    if arrival.cancelled():
                        continue
                    error = arrival.exception()
                    if error is not None:
                        failures.append((tasks[arrival], _as_service_error(error)))
                        continue
                    ready, used = arrival.result()
                    usage += used
                    delivered += 1
                    outbox.put_nowait(ready)
                status = (
                    JobStatus.SUCCEEDED
                    if not failures
                    else (JobStatus.PARTIAL if delivered else JobStatus.FAILED)
                )
            finally:
                for task in tasks:
                    task.cancel()
                ticket.close()
                error_text = _failure_text(failures, n) if failures else None
                span.set_attributes(
                    {"visionstudio.job_status": status, "visionstudio.images_delivered": delivered}
                )
                if error_text is not None:
                    span.set_status(trace.StatusCode.ERROR, error_text)
                await self._record(self._jobs.finish_job(job_id, status, usage, error_text))
                self._count_usage(job.caller, usage)
                log.info(
                    "job finished",
                    extra={"status": status, "delivered": delivered, "error": error_text},
                )
            if failures:
                first = failures[0][1]
                first.message = f"{error_text}; first error: {first.message}"
                first.metadata["failed_indices"] = ",".join(str(i) for i, _ in sorted(failures))
                first.metadata["job_id"] = job_id
                outbox.put_nowait(first)
                return
            outbox.put_nowait(
                Finished(
                    job_id=job_id,
                    usage=usage,
                    images_delivered=delivered,
                    elapsed_ms=int((time.monotonic() - started) * 1000),
                )
            )

    async def _one(
        self,
        job: JobRecord,
        index: int,
        spec: JobSpec,
        plan: Plan,
        ticket: Ticket,
        deadline: float,
        previews: asyncio.Queue[asyncio.Task[tuple[ImageReady, Usage]] | Preview],
    ) -> tuple[ImageReady, Usage]:
        async def on_partial(number: int, data: bytes) -> None:
            mime = spec.output_format.mime_type
            previews.put_nowait(Preview(index, number, mime, data))

        with tracer.start_as_current_span(
            "visionstudio.image", attributes={"visionstudio.image.index": index}
        ):
            async with ticket.slot():
                # The time spent waiting for a slot counts against the caller's deadline.
                request = RenderRequest(
                    prompt=spec.prompt,
                    size=plan.size,
                    quality=spec.quality,
                    background=spec.background,
                    output_format=spec.output_format,
                    image=plan.image,
                    mask=plan.mask,
                    timeout_s=max(0.001, deadline - time.monotonic()),
                    partial_images=spec.partial_images,
                    caller=job.caller,
                )
                rendered = await self._provider.render(request, on_partial)
            final = await asyncio.to_thread(plan.finish, rendered.data)
            image_id = new_id()
            name = f"{image_id}.{final.mime_type.split('/')[1]}"
            blob_key = f"images/{name}"
            # Stored before it is announced, so the URL works the moment the caller sees it.
            with tracer.start_as_current_span("visionstudio.store"):
                await self._blobs.put(blob_key, final.data, final.mime_type)
                await self._jobs.add_image(
                    ImageRecord(
                        id=image_id,
                        job_id=job.id,
                        index=index,
                        blob_key=blob_key,
                        mime_type=final.mime_type,
                        width=final.width,
                        height=final.height,
                        size_bytes=len(final.data),
                    )
                )
            self._metrics.images.labels(spec.operation.value).inc()
            ready = ImageReady(
                index=index,
                image_id=image_id,
                url=await self._queries.image_url(blob_key),
                mime_type=final.mime_type,
                width=final.width,
                height=final.height,
                size_bytes=len(final.data),
                data=final.data if spec.include_data else None,
            )
            return ready, rendered.usage

    def _count_usage(self, caller: str, usage: Usage) -> None:
        tokens = self._metrics.tokens
        tokens.labels("input_text", caller).inc(usage.input_text_tokens)
        tokens.labels("input_image", caller).inc(usage.input_image_tokens)
        tokens.labels("output", caller).inc(usage.output_tokens)


def _deadline_error() -> ServiceError:
    return DeadlineExceeded("the deadline passed before the image was ready")


def _as_service_error(error: BaseException) -> ServiceError:
    if isinstance(error, ServiceError):
        return error
    log.error("image task failed", exc_info=error)
    return Internal("internal error while making the image")


def _failure_text(failures: list[tuple[int, ServiceError]], n: int) -> str:
    indices = ", ".join(str(i) for i, _ in sorted(failures, key=lambda f: f[0]))
    return f"{len(failures)} of {n} images failed (indices {indices})"
