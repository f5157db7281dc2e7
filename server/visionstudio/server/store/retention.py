"""Deletes jobs and images older than the retention period, in the background."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time

from visionstudio.server.store import BlobStore, JobStore

log = logging.getLogger(__name__)


class Retention:
    def __init__(
        self, jobs: JobStore, blobs: BlobStore, *, keep_s: float, interval_s: float
    ) -> None:
        self._jobs = jobs
        self._blobs = blobs
        self._keep_s = keep_s
        self._interval_s = interval_s
        self._task: asyncio.Task[None] | None = None

    async def purge_once(self) -> int:
        keys = await self._jobs.purge(time.time() - self._keep_s)
        if keys:
            await self._blobs.delete(keys)
            log.info("retention: deleted %d images", len(keys))
        return len(keys)

    def start(self) -> None:
        if self._keep_s > 0:
            self._task = asyncio.create_task(self._run(), name="retention")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _run(self) -> None:
        while True:
            try:
                await self.purge_once()
            except Exception:
                # A failed pass (e.g. the database restarting) is retried next interval.
                log.exception("retention pass failed")
            await asyncio.sleep(self._interval_s)
