"""The one retry policy for upstream calls (the SDK's own retries are switched off).

Retries 5xx, timeouts-in-transit and connection failures with exponential backoff and jitter
(a 429 is not a failure: the rate budget waits for it, see `pool.py`), waits at least as long
as the provider's Retry-After says, and never
sleeps past the caller's deadline: when the next attempt could not finish in time, the last
error is raised at once (with its RetryInfo) instead.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

from tenacity import (
    AsyncRetrying,
    RetryCallState,
    retry_if_exception_type,
    retry_if_not_exception_type,
    stop_after_attempt,
    stop_before_delay,
    wait_exponential_jitter,
)
from visionstudio.server.errors import ServiceError, Unavailable
from visionstudio.server.provider.answers import MalformedAnswer

T = TypeVar("T")

RETRYABLE = (Unavailable,)


@dataclass(frozen=True)
class RetryPolicy:
    max_attempts: int = 3
    initial_backoff_s: float = 0.5
    max_backoff_s: float = 8.0
    jitter_s: float = 0.5

    def _wait(self) -> Callable[[RetryCallState], float]:
        backoff = wait_exponential_jitter(
            multiplier=self.initial_backoff_s, max=self.max_backoff_s, jitter=self.jitter_s
        )

        def wait(state: RetryCallState) -> float:
            error = state.outcome.exception() if state.outcome else None
            hinted = error.retry_after_hint_s if isinstance(error, ServiceError) else None
            return max(backoff(state), hinted or 0.0)

        return wait

    async def call(
        self,
        attempt: Callable[[float], Awaitable[T]],
        *,
        timeout_s: float,
        on_retry: Callable[[BaseException], None] | None = None,
    ) -> T:
        """Runs `attempt(seconds_left)` until it succeeds, fails for good, or time runs out."""
        deadline = time.monotonic() + timeout_s

        def before_sleep(state: RetryCallState) -> None:
            if on_retry is not None and state.outcome is not None:
                error = state.outcome.exception()
                if error is not None:
                    on_retry(error)

        retrying = AsyncRetrying(
            # A malformed 200 may have been billed, and would likely come again.
            retry=retry_if_exception_type(RETRYABLE) & retry_if_not_exception_type(MalformedAnswer),
            stop=stop_after_attempt(self.max_attempts) | stop_before_delay(timeout_s),
            wait=self._wait(),
            before_sleep=before_sleep,
            reraise=True,
        )
        async for attempt_state in retrying:
            with attempt_state:
                return await attempt(max(0.001, deadline - time.monotonic()))
        raise AssertionError("unreachable: tenacity reraises the last error")
