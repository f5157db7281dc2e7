"""Deletes jobs, images and ended batches older than the retention period, in the background."""

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
        """Returns how many images were deleted."""
        cutoff = time.time() - self._keep_s
        keys = await self._jobs.purge(cutoff)
        if keys:
            await self._blobs.delete(keys)
            log.info("retention: deleted %d images", len(keys))
        # A batch's items are jobs of their own, purged above on the same cutoff.
        if batches := await self._jobs.purge_batches(cutoff):
            log.info("retention: deleted %d batches", batches)
        return len(keys)

    def start(self) -> None:
        if self._keep_s > 0:
            self._passes.start()

    async def stop(self) -> None:
        await self._passes.stop()
