"""The provider account's rate budget: images and requests per minute, spent exactly.

The real ceiling of this service is the provider's rate limit. Upstream calls wait here for
budget instead of storming the provider into 429s; waiting callers are served round-robin by
API key, so one busy key cannot starve the others. The budget also follows what the provider
says: its `x-ratelimit-remaining-*` headers (other clients may share the account) and any 429's
Retry-After pause everyone.

In-process by default: replicas that share one provider account should each get their share
of the account's limits (set the per-minute figures to the account's limit / replicas).
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import time
from collections.abc import Mapping

from visionstudio.server.errors import ResourceExhausted


class _Bucket:
    """Continuously refilling, like the provider's per-minute limits."""

    def __init__(self, per_minute: int) -> None:
        self.rate = per_minute / 60.0
        self.capacity = float(per_minute)
        self.tokens = float(per_minute)
        self.updated = time.monotonic()

    def refill(self, now: float) -> None:
        self.tokens = min(self.capacity, self.tokens + (now - self.updated) * self.rate)
        self.updated = now

    def wait_for(self, amount: float) -> float:
        return max(0.0, (amount - self.tokens) / self.rate)


class ProviderBudget:
    def __init__(self, *, images_per_minute: int, requests_per_minute: int) -> None:
        limits = {"images": images_per_minute, "requests": requests_per_minute}
        self._by_kind = {kind: _Bucket(limit) for kind, limit in limits.items() if limit > 0}
        self._buckets = list(self._by_kind.values())
        self._paused_until = 0.0
        # Per caller, the futures of its waiting calls; the order of keys is the round-robin.
        self._waiting: collections.OrderedDict[str, collections.deque[asyncio.Future[None]]] = (
            collections.OrderedDict()
        )
        self._wakeup = asyncio.Event()
        self._granter: asyncio.Task[None] | None = None

    @property
    def enabled(self) -> bool:
        return bool(self._buckets)

    @property
    def waiting(self) -> int:
        return sum(len(q) for q in self._waiting.values())

    async def acquire(self, caller: str, deadline: float) -> None:
        """Waits for one image request's worth of budget, or raises ResourceExhausted when
        it cannot come before `deadline` (time.monotonic())."""
        if not self._buckets:
            return
        expected = self._estimated_wait()
        if expected > deadline - time.monotonic():
            # It will not come in time: say so now, with when it would, instead of at the end.
            raise self._exhausted(expected)
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiting.setdefault(caller, collections.deque()).append(waiter)
        self._wakeup.set()
        if self._granter is None or self._granter.done():
            self._granter = asyncio.create_task(self._grant(), name="provider-budget")
        try:
            async with asyncio.timeout(max(0.0, deadline - time.monotonic())):
                await asyncio.shield(waiter)
        except TimeoutError:
            if waiter.done():
                return  # granted as the deadline passed: use it
            waiter.cancel()
            raise self._exhausted(self._estimated_wait()) from None
        except asyncio.CancelledError:
            waiter.cancel()
            raise

    def observe(self, headers: Mapping[str, str]) -> None:
        """Adopts the provider's view of what is left, when it is lower than ours."""
        now = time.monotonic()
        for kind, bucket in self._by_kind.items():
            remaining = headers.get(f"x-ratelimit-remaining-{kind}")
            if remaining is not None:
                with contextlib.suppress(ValueError):
                    bucket.refill(now)
                    bucket.tokens = min(bucket.tokens, float(remaining))

    def pause(self, seconds: float) -> None:
        """After a 429: nobody calls upstream until the provider said it is worth trying."""
        self._paused_until = max(self._paused_until, time.monotonic() + seconds)
        self._wakeup.set()

    def _estimated_wait(self) -> float:
        """Seconds until one more call, behind everyone waiting, would get its budget."""
        now = time.monotonic()
        waits = [self._paused_until - now]
        for bucket in self._buckets:
            bucket.refill(now)
            waits.append(bucket.wait_for(1 + self.waiting))
        return max(0.0, *waits)

    @staticmethod
    def _exhausted(wait: float) -> ResourceExhausted:
        return ResourceExhausted(
            "the provider's rate budget has no room before the deadline",
            reason="PROVIDER_BUDGET",
            retry_after_s=max(1.0, wait),
        )

    def _next_waiter(self) -> asyncio.Future[None] | None:
        """The next live waiter, taking callers in turn."""
        while self._waiting:
            caller, queue = next(iter(self._waiting.items()))
            while queue and queue[0].done():
                queue.popleft()  # gave up (deadline or cancellation)
            if not queue:
                del self._waiting[caller]
                continue
            # This caller goes to the back of the line for its next call.
            self._waiting.move_to_end(caller)
            return queue.popleft()
        return None

    async def _grant(self) -> None:
        while True:
            waiter = self._next_waiter()
            if waiter is None:
                return
            while True:
                now = time.monotonic()
                for bucket in self._buckets:
                    bucket.refill(now)
                wait = max([self._paused_until - now] + [b.wait_for(1) for b in self._buckets])
                if wait <= 0 or waiter.done():
                    break
                self._wakeup.clear()
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(wait):
                        await self._wakeup.wait()
            if waiter.done():
                continue
            for bucket in self._buckets:
                bucket.tokens -= 1
            waiter.set_result(None)
