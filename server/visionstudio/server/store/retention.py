"""Deletes jobs and images older than the retention period, in the background."""

from __future__ import annotations

import logging
import time

from visionstudio.server.background import Periodic
from visionstudio.server.store import BlobStore, JobStore

log = logging.getLogger(__name__)


class Retention:
    def __init__(
        self, jobs: JobStore, blobs: BlobStore, *, keep_s: float, interval_s: float
    ) -> None:
        self._jobs = jobs
        self._blobs = blobs
        self._keep_s = keep_s
        self._passes = Periodic("retention", interval_s, self.purge_once, at_start=True)

    async def purge_once(self) -> int:
        keys = await self._jobs.purge(time.time() - self._keep_s)
        if keys:
            await self._blobs.delete(keys)
            log.info("retention: deleted %d images", len(keys))
        return len(keys)

    def start(self) -> None:
        if self._keep_s > 0:
            self._passes.start()

    async def stop(self) -> None:
        await self._passes.stop()
