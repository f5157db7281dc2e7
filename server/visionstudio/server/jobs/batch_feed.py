"""A running batch's events, kept in order so every follower (RunBatch, WatchBatch) gets all of
them from the first, however late it joins."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

from visionstudio.server.errors import ServiceError
from visionstudio.server.jobs.batch_events import BatchEvent


class BatchFeed:
    def __init__(self) -> None:
        self._events: list[BatchEvent] = []
        self._changed = asyncio.Event()
        self._closed = False
        self._error: ServiceError | None = None

    def publish(self, event: BatchEvent) -> None:
        self._events.append(event)
        self._wake()

    def close(self, error: ServiceError | None = None) -> None:
        """Ends the feed; with `error` (the driver stopped before the summary) every follower's
        stream ends with it."""
        self._closed = True
        self._error = error
        self._wake()

    def _wake(self) -> None:
        # A fresh event per change: every follower waiting on the old one wakes once.
        changed, self._changed = self._changed, asyncio.Event()
        changed.set()

    async def follow(self) -> AsyncIterator[BatchEvent]:
        """Every event so far, then each new one, until the feed closes (raising its error)."""
        seen = 0
        while True:
            while seen < len(self._events):
                seen += 1
                yield self._events[seen - 1]
            if self._closed:
                if self._error is not None:
                    raise self._error
                return
            await self._changed.wait()
