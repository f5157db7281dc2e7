"""Wakes the watchers of a job when it changes, instead of each polling the store.

Changes made in this process signal at once; PostgreSQL's LISTEN/NOTIFY carries those made by
other replicas (SQLite has no such channel: its watchers also poll)."""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager


class ChangeSignals:
    def __init__(self) -> None:
        self._waiters: defaultdict[str, set[asyncio.Event]] = defaultdict(set)

    @asynccontextmanager
    async def changes(self, job_id: str) -> AsyncIterator[asyncio.Event]:
        """An event set whenever the job changes while the context is open (clear it, then
        read the job, then wait: a change in between is not missed)."""
        event = asyncio.Event()
        self._waiters[job_id].add(event)
        try:
            yield event
        finally:
            waiters = self._waiters[job_id]
            waiters.discard(event)
            if not waiters:
                del self._waiters[job_id]

    def notify(self, job_id: str) -> None:
        for event in self._waiters.get(job_id, ()):
            event.set()
