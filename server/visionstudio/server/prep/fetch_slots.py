"""URL fetches at once, per API key: one key's slow URLs cannot hold the connection pool (and
the time) every other key's fetches need."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager


class CallerSlots:
    def __init__(self, per_caller: int) -> None:
        self._per_caller = per_caller
        self._slots: dict[str, asyncio.Semaphore] = {}
        # Fetches holding or awaiting each key's slots; a key nobody uses is forgotten.
        self._users: Counter[str] = Counter()

    @asynccontextmanager
    async def hold(self, caller: str) -> AsyncIterator[None]:
        """One of `caller`'s slots for the duration; waits while all of them are taken."""
        semaphore = self._slots.setdefault(caller, asyncio.Semaphore(self._per_caller))
        self._users[caller] += 1
        try:
            async with semaphore:
                yield
        finally:
            self._users[caller] -= 1
            if not self._users[caller]:
                del self._users[caller], self._slots[caller]
