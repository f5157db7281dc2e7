"""Making one image of a job: the upstream call, the finishing pixels, storing it."""

from __future__ import annotations

import asyncio
import time

from opentelemetry import trace
from visionstudio.server.errors import Internal
from visionstudio.server.jobs.events import ImageReady, Preview
from visionstudio.server.jobs.links import new_id
from visionstudio.server.jobs.queries import JobQueries
from visionstudio.server.jobs.running import RunningJob
from visionstudio.server.observability.metrics import Metrics
from visionstudio.server.provider.base import ImageProvider, RenderedImage, RenderRequest
from visionstudio.server.spec import Usage
from visionstudio.server.store import BlobStore, ImageRecord, JobStore

tracer = trace.get_tracer(__name__)


class ImageMaker:
    def __init__(
        self,
        *,
        provider: ImageProvider,
        blobs: BlobStore,
        jobs: JobStore,
        queries: JobQueries,
        metrics: Metrics,
    ) -> None:
        self._provider = provider
        self._blobs = blobs
        self._jobs = jobs
        self._queries = queries
        self._metrics = metrics

    async def make(self, job: RunningJob, index: int) -> tuple[ImageReady, Usage]:
        """Image `index` of `job`, stored before it is returned."""
        spec = job.spec

        async def on_partial(number: int, data: bytes) -> None:
            job.arrivals.put_nowait(Preview(index, number, spec.output_format.mime_type, data))

        with tracer.start_as_current_span(
            "visionstudio.image", attributes={"visionstudio.image.index": index}
        ):
            busy = False
            try:
                async with job.ticket.slot():
                    # From here to the stored image the job counts as busy (LiveJobs.drain).
                    busy = True
                    job.rendering += 1
                    rendered = await self._provider.render(self._request(job), on_partial)
                if not await job.is_recorded():
                    raise Internal("the job could not be recorded")
                ready = await self._store(job, index, rendered)
            finally:
                if busy:
                    job.rendering -= 1
            self._metrics.images.labels(spec.operation.value).inc()
            return ready, rendered.usage

    @staticmethod
    def _request(job: RunningJob) -> RenderRequest:
        spec, plan = job.spec, job.plan
        return RenderRequest(
            prompt=spec.prompt,
            size=plan.size,
            quality=spec.quality,
            background=spec.background,
            output_format=spec.output_format,
            image=plan.image,
            mask=plan.mask,
            # The time spent waiting for a slot counts against the job's deadline.
            timeout_s=max(0.001, job.deadline - time.monotonic()),
            partial_images=spec.partial_images,
            caller=job.record.caller,
        )

    async def _store(self, job: RunningJob, index: int, rendered: RenderedImage) -> ImageReady:
        final = await asyncio.to_thread(job.plan.finish, rendered.data)
        image_id = new_id()
        blob_key = f"images/{image_id}.{final.mime_type.split('/')[1]}"
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
                    # Kept with the image: a job carried on elsewhere still counts what this cost.
                    usage=rendered.usage,
                    deployment=rendered.deployment or None,
                )
            )
        return ImageReady(
            index=index,
            image_id=image_id,
            url=await self._queries.image_url(blob_key),
            mime_type=final.mime_type,
            width=final.width,
            height=final.height,
            size_bytes=len(final.data),
            data=final.data if job.spec.include_data else None,
        )
