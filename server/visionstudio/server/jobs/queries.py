"""Reading jobs back: GetJob, ListJobs, usage, and watching a job from any replica.

Watching polls the job store, so it works the same whether the job runs in this process,
in another replica, or has already ended.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass

from visionstudio.server.errors import (
    DeadlineExceeded,
    JobCancelled,
    JobFailed,
    NotFound,
    Unavailable,
)
from visionstudio.server.jobs.events import Accepted, Finished, ImageReady, JobEvent, Progress
from visionstudio.server.jobs.links import UrlSigner
from visionstudio.server.spec import Usage
from visionstudio.server.store import (
    BlobStore,
    ImageRecord,
    JobPage,
    JobRecord,
    JobStatus,
    JobStore,
    UsageTotals,
)


def cancelled_error(job_id: str, reason: str | None) -> JobCancelled:
    """What a cancelled job's stream, and every watcher's, ends with."""
    error = JobCancelled(f"job {job_id} was cancelled: {reason or 'no reason recorded'}")
    error.metadata["job_id"] = job_id
    return error


# How often a watcher still reads the store when the store notifies of changes (in case a
# notification is lost, e.g. while its connection reconnects).
NOTIFIED_POLL_S = 5.0


def shutting_down_error(job_id: str) -> Unavailable:
    """What a stream ends with when this server shuts down: callers re-attach with WatchJob
    (on another replica) and the job goes on there."""
    return Unavailable(
        f"the server is shutting down; job {job_id} goes on: WatchJob re-attaches to it",
        reason="SERVER_SHUTTING_DOWN",
        metadata={"job_id": job_id},
    )


@dataclass(frozen=True)
class JobView:
    job: JobRecord
    images: list[ImageReady]


class JobQueries:
    def __init__(
        self,
        *,
        jobs: JobStore,
        blobs: BlobStore,
        signer: UrlSigner,
        url_ttl_s: int,
        poll_s: float = 0.5,
        progress_interval_s: float = 10.0,
    ) -> None:
        self._jobs = jobs
        self._blobs = blobs
        self._signer = signer
        self._url_ttl_s = url_ttl_s
        self._poll_s = poll_s
        self._progress_interval_s = progress_interval_s
        # Set at shutdown; the watchers' wake-up events, to end them at once then.
        self._stopping = False
        self._watchers: set[asyncio.Event] = set()

    def shut_down(self) -> None:
        """Ends every watch on this server with SERVER_SHUTTING_DOWN, so its caller moves to
        another replica at once."""
        self._stopping = True
        for changed in self._watchers:
            changed.set()

    async def image_url(self, blob_key: str) -> str:
        """A presigned object-store URL when the store has one, else this service's signed URL."""
        presigned = await self._blobs.presigned_url(blob_key, self._url_ttl_s)
        return presigned or self._signer.image_url(blob_key.rsplit("/", 1)[-1])

    async def own_job(self, job_id: str, caller: str) -> JobRecord:
        job = await self._jobs.get_job(job_id) if job_id else None
        if job is None or job.caller != caller:
            # Another key's job is indistinguishable from a missing one.
            raise NotFound(f"no job {job_id!r}")
        return job

    async def get(self, job_id: str, caller: str) -> JobView:
        job = await self.own_job(job_id, caller)
        records = await self._jobs.list_images(job.id)
        return JobView(job, [await self._ready(r, include_data=False) for r in records])

    async def list(
        self,
        caller: str,
        *,
        status: JobStatus | None,
        created_after: float | None,
        created_before: float | None,
        page_size: int,
        page_token: str | None,
    ) -> JobPage:
        return await self._jobs.list_jobs(
            caller,
            status=status,
            created_after=created_after,
            created_before=created_before,
            page_size=page_size,
            page_token=page_token,
        )

    async def usage(self, caller: str, *, since: float | None, until: float | None) -> UsageTotals:
        return await self._jobs.usage(caller, since=since, until=until)

    async def watch(
        self, job: JobRecord, *, include_data: bool, timeout_s: float
    ) -> AsyncIterator[JobEvent]:
        """The job's stream: accepted, its images (stored ones first), then summary or error."""
        deadline = time.monotonic() + timeout_s
        yield Accepted(job.id, job.number_of_images, job.model)
        sent: set[str] = set()
        quiet_since = time.monotonic()
        async with self._changes(job.id) as changed:
            while True:
                if self._stopping:
                    raise shutting_down_error(job.id)
                # Cleared before reading, so a change made meanwhile wakes the wait below.
                changed.clear()
                current = await self._jobs.get_job(job.id) or job
                for record in await self._jobs.list_images(job.id):
                    if record.id not in sent:
                        sent.add(record.id)
                        quiet_since = time.monotonic()
                        yield await self._ready(record, include_data=include_data)
                if current.status is not JobStatus.RUNNING:
                    # Images are stored before the job is marked done: none can be missing.
                    break
                now = time.monotonic()
                if now >= deadline:
                    error = DeadlineExceeded("the deadline passed before the job finished")
                    error.metadata["job_id"] = job.id
                    raise error
                if now - quiet_since >= self._progress_interval_s:
                    quiet_since = now
                    elapsed = int((time.time() - current.created_at) * 1000)
                    yield Progress(len(sent), current.number_of_images, elapsed)
                # Notified stores wake the wait; polling stays as the fallback.
                poll_s = NOTIFIED_POLL_S if self._jobs.notifies else self._poll_s
                progress_due_s = quiet_since + self._progress_interval_s - now
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(min(poll_s, progress_due_s, deadline - now)):
                        await changed.wait()
        if current.status is JobStatus.SUCCEEDED:
            elapsed = int((current.updated_at - current.created_at) * 1000)
            yield Finished(job.id, current.usage or Usage(), len(sent), elapsed)
            return
        if current.status is JobStatus.CANCELLED:
            raise cancelled_error(job.id, current.error)
        failure = JobFailed(f"job {job.id} ended {current.status}: {current.error or 'no images'}")
        failure.metadata["job_id"] = job.id
        raise failure

    @contextlib.asynccontextmanager
    async def _changes(self, job_id: str) -> AsyncIterator[asyncio.Event]:
        """The store's change event for the job, also set when this server shuts down."""
        async with self._jobs.changes(job_id) as changed:
            self._watchers.add(changed)
            try:
                yield changed
            finally:
                self._watchers.discard(changed)

    async def _ready(self, record: ImageRecord, *, include_data: bool) -> ImageReady:
        data = await self._blobs.get(record.blob_key) if include_data else None
        return ImageReady(
            index=record.index,
            image_id=record.id,
            url=await self.image_url(record.blob_key),
            mime_type=record.mime_type,
            width=record.width,
            height=record.height,
            size_bytes=record.size_bytes,
            data=data,
        )
