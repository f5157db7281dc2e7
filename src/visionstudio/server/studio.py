"""The service core every surface shares: prep -> provider -> store, as a stream of events.

Several images run as concurrent n=1 upstream calls (the API refuses streaming with n>1, and one
n=4 call would only answer when all four are done), so each image is stored and delivered the
moment its own call finishes.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

from visionstudio.server import logs
from visionstudio.server.errors import DeadlineExceeded, Internal, ServiceError
from visionstudio.server.limits import Admission, Ticket
from visionstudio.server.metrics import Metrics
from visionstudio.server.prep import Plan, Prep
from visionstudio.server.provider.base import ImageProvider, RenderRequest
from visionstudio.server.spec import JobSpec, Usage
from visionstudio.server.store import BlobStore, ImageRecord, JobRecord, JobStore
from visionstudio.server.urls import UrlSigner, new_id
from visionstudio.server.validation import validate

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Accepted:
    job_id: str
    number_of_images: int
    model: str


@dataclass(frozen=True)
class ImageReady:
    index: int
    image_id: str
    url: str
    mime_type: str
    width: int
    height: int
    size_bytes: int
    data: bytes | None = field(default=None, repr=False)


@dataclass(frozen=True)
class Finished:
    job_id: str
    usage: Usage
    images_delivered: int
    elapsed_ms: int


@dataclass(frozen=True)
class Progress:
    images_done: int
    images_total: int
    elapsed_ms: int


@dataclass(frozen=True)
class Preview:
    index: int
    partial_image_index: int
    mime_type: str
    data: bytes = field(repr=False)


JobEvent = Accepted | ImageReady | Finished | Progress | Preview


class ImageStudio:
    def __init__(
        self,
        *,
        provider: ImageProvider,
        prep: Prep,
        blobs: BlobStore,
        jobs: JobStore,
        urls: UrlSigner,
        max_input_bytes: int,
        admission: Admission,
        metrics: Metrics,
        progress_interval_s: float = 10.0,
    ) -> None:
        self._provider = provider
        self._prep = prep
        self._blobs = blobs
        self._jobs = jobs
        self._urls = urls
        self._max_input_bytes = max_input_bytes
        self._admission = admission
        self._metrics = metrics
        self._progress_interval_s = progress_interval_s
        metrics.in_flight.set_function(lambda: admission.in_flight)
        metrics.queued.set_function(lambda: admission.queued)

    async def run(self, spec: JobSpec, *, caller: str, timeout_s: float) -> AsyncIterator[JobEvent]:
        """Streams Accepted, one ImageReady per image as it is stored, then Finished.

        Raises ServiceError. When some images fail, the others are still delivered and stored
        first; the error then names the failed indices.
        """
        started = time.monotonic()
        deadline = started + timeout_s
        validate(spec, max_input_bytes=self._max_input_bytes)
        ticket = self._admission.admit(caller, spec.number_of_images)
        try:
            async for event in self._run(spec, ticket, caller, started, deadline):
                yield event
        finally:
            ticket.close()

    async def _run(
        self, spec: JobSpec, ticket: Ticket, caller: str, started: float, deadline: float
    ) -> AsyncIterator[JobEvent]:
        try:
            async with asyncio.timeout(deadline - time.monotonic()):
                plan = await self._prep.plan(spec, self._provider.rules)
        except TimeoutError:
            raise DeadlineExceeded(
                "preparing the input images took longer than the deadline"
            ) from None
        job_id = new_id()
        n = spec.number_of_images
        model = self._provider.rules.model
        await self._jobs.create_job(
            JobRecord(
                id=job_id,
                rpc=spec.operation.value,
                caller=caller,
                model=model,
                params=spec.params(),
            )
        )
        logs.job_id.set(job_id)
        log.info(
            "job accepted",
            extra={"operation": spec.operation.value, "images": n, "model": model},
        )
        yield Accepted(job_id=job_id, number_of_images=n, model=model)

        # Finished image tasks and previews arrive on one queue, in the order they happen.
        arrivals: asyncio.Queue[asyncio.Task[tuple[ImageReady, Usage]] | Preview] = asyncio.Queue()
        tasks: dict[asyncio.Task[tuple[ImageReady, Usage]], int] = {}
        for i in range(n):
            task = asyncio.create_task(self._one(job_id, i, spec, plan, ticket, deadline, arrivals))
            task.add_done_callback(arrivals.put_nowait)
            tasks[task] = i
        usage = Usage()
        delivered = 0
        failures: list[tuple[int, ServiceError]] = []
        status = "cancelled"
        try:
            pending = set(tasks)
            while pending:
                now = time.monotonic()
                wait = min(deadline - now, self._progress_interval_s)
                try:
                    async with asyncio.timeout(max(0.0, wait)):
                        arrival = await arrivals.get()
                except TimeoutError:
                    if time.monotonic() >= deadline:
                        failures.extend((tasks[t], _deadline_error()) for t in pending)
                        break
                    done = n - len(pending)
                    yield Progress(done, n, int((time.monotonic() - started) * 1000))
                    continue
                if isinstance(arrival, Preview):
                    yield arrival
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
                yield ready
            status = "succeeded" if not failures else ("partial" if delivered else "failed")
        finally:
            for task in tasks:
                task.cancel()
            error_text = _failure_text(failures, n) if failures else None
            await asyncio.shield(self._jobs.finish_job(job_id, status, usage, error_text))
            self._count_usage(usage)
            log.info(
                "job finished",
                extra={"status": status, "delivered": delivered, "error": error_text},
            )
        if failures:
            first = failures[0][1]
            first.message = f"{error_text}; first error: {first.message}"
            first.metadata["failed_indices"] = ",".join(str(i) for i, _ in sorted(failures))
            first.metadata["job_id"] = job_id
            raise first
        yield Finished(
            job_id=job_id,
            usage=usage,
            images_delivered=delivered,
            elapsed_ms=int((time.monotonic() - started) * 1000),
        )

    async def _one(
        self,
        job_id: str,
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
            )
            rendered = await self._provider.render(request, on_partial)
        final = await asyncio.to_thread(plan.finish, rendered.data)
        image_id = new_id()
        name = f"{image_id}.{final.mime_type.split('/')[1]}"
        blob_key = f"images/{name}"
        # Stored before it is announced, so the URL works the moment the caller sees it.
        await self._blobs.put(blob_key, final.data)
        await self._jobs.add_image(
            ImageRecord(
                id=image_id,
                job_id=job_id,
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
            url=self._urls.image_url(name),
            mime_type=final.mime_type,
            width=final.width,
            height=final.height,
            size_bytes=len(final.data),
            data=final.data if spec.include_data else None,
        )
        return ready, rendered.usage

    def _count_usage(self, usage: Usage) -> None:
        self._metrics.tokens.labels("input_text").inc(usage.input_text_tokens)
        self._metrics.tokens.labels("input_image").inc(usage.input_image_tokens)
        self._metrics.tokens.labels("output").inc(usage.output_tokens)


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
