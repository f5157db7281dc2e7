"""Admission control: bounded upstream concurrency and per-key rate limits.

A job is admitted only if all its images fit in the in-flight slots plus the bounded wait
queue, globally and for its API key; otherwise it is refused at once with RESOURCE_EXHAUSTED,
so memory never grows with the offered load. Admitted images then wait for a slot in order.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

from visionstudio.server.errors import ResourceExhausted
from visionstudio.server.provider.token_bucket import TokenBucket


@dataclass(frozen=True)
class Limits:
    max_in_flight: int
    max_queued: int
    per_key_in_flight: int
    per_key_queued: int
    # Images a key may start per minute; 0 turns the rate limit off.
    per_key_images_per_minute: int


class Admission:
    def __init__(self, limits: Limits) -> None:
        self._limits = limits
        self._global = asyncio.Semaphore(limits.max_in_flight)
        self._per_key: dict[str, asyncio.Semaphore] = {}
        self._outstanding = 0
        self._outstanding_by_key: dict[str, int] = defaultdict(int)
        self._buckets: dict[str, TokenBucket] = {}
        self.in_flight = 0

    @property
    def queued(self) -> int:
        return self._outstanding - self.in_flight

    def admit(self, caller: str, images: int) -> Ticket:
        """Reserves room for `images` upstream calls, or raises ResourceExhausted."""
        limits = self._limits
        if self._outstanding + images > limits.max_in_flight + limits.max_queued:
            raise ResourceExhausted(
                "the service is at capacity; retry shortly", reason="SERVER_BUSY"
            )
        key_outstanding = self._outstanding_by_key[caller]
        if key_outstanding + images > limits.per_key_in_flight + limits.per_key_queued:
            raise ResourceExhausted(
                f"this API key already has {key_outstanding} images in progress; "
                f"the limit is {limits.per_key_in_flight + limits.per_key_queued}",
                reason="KEY_CONCURRENCY_LIMIT",
            )
        if limits.per_key_images_per_minute:
            bucket = self._buckets.setdefault(caller, TokenBucket(limits.per_key_images_per_minute))
            wait = bucket.take(images)
            if wait:
                raise ResourceExhausted(
                    f"this API key may start {limits.per_key_images_per_minute} images a minute",
                    reason="KEY_RATE_LIMIT",
                    retry_after_s=min(wait, 60.0),
                )
        self._outstanding += images
        self._outstanding_by_key[caller] += images
        semaphore = self._per_key.setdefault(caller, asyncio.Semaphore(limits.per_key_in_flight))
        return Ticket(self, caller, images, semaphore)

    @asynccontextmanager
    async def _slot(self, per_key: asyncio.Semaphore) -> AsyncIterator[None]:
        async with per_key, self._global:
            self.in_flight += 1
            try:
                yield
            finally:
                self.in_flight -= 1

    def _release(self, caller: str, images: int) -> None:
        self._outstanding -= images
        self._outstanding_by_key[caller] -= images
        if not self._outstanding_by_key[caller]:
            del self._outstanding_by_key[caller]


class Ticket:
    """An admitted job's reservation; each image runs inside `slot()`."""

    def __init__(
        self, admission: Admission, caller: str, images: int, per_key: asyncio.Semaphore
    ) -> None:
        self._admission = admission
        self._caller = caller
        self._left = images
        self._per_key = per_key

    @asynccontextmanager
    async def slot(self) -> AsyncIterator[None]:
        try:
            async with self._admission._slot(self._per_key):
                yield
        finally:
            self._done(1)

    def close(self) -> None:
        """Returns what the job did not use (e.g. after a cancellation)."""
        self._done(self._left)

    def _done(self, images: int) -> None:
        images = min(images, self._left)
        if images:
            self._left -= images
            self._admission._release(self._caller, images)
