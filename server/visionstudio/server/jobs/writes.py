"""Job-record writes that must reach the store even when the task making them is cancelled."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any


class DurableWrites:
    def __init__(self) -> None:
        self._pending: set[asyncio.Future[None]] = set()

    async def run(self, write: Coroutine[Any, Any, None]) -> None:
        """Runs `write` to the end even if the caller is cancelled meanwhile."""
        future = asyncio.ensure_future(write)
        self._pending.add(future)
        future.add_done_callback(self._pending.discard)
        await asyncio.shield(future)

    async def flush(self) -> None:
        """Waits for every write still running (before the store closes)."""
        await asyncio.gather(*self._pending, return_exceptions=True)
