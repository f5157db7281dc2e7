"""A running batch's events, kept in order so every follower (RunBatch, WatchBatch) gets all of
them from the first, however late it joins."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

from visionstudio.server.jobs.batch_events import BatchEvent


class BatchFeed:
    def __init__(self) -> None:
        self._events: list[BatchEvent] = []
        self._changed = asyncio.Event()
        self._closed = False

    def publish(self, event: BatchEvent) -> None:
        self._events.append(event)
        self._wake()

    def close(self) -> None:
        self._closed = True
        self._wake()

    def _wake(self) -> None:
        # A fresh event per change: every follower waiting on the old one wakes once.
        changed, self._changed = self._changed, asyncio.Event()
        changed.set()

    async def follow(self) -> AsyncIterator[BatchEvent]:
        """Every event so far, then each new one, until the feed closes."""
        seen = 0
        while True:
            while seen < len(self._events):
                seen += 1
                yield self._events[seen - 1]
            if self._closed:
                return
            await self._changed.wait()
