"""The account's optional rate limits: token buckets, 429 answers and x-ratelimit-* headers."""

from __future__ import annotations

import math
from collections.abc import Callable

from tests.fake_openai.config import FakeOpenAIConfig
from tests.fake_openai.errors import ApiError


def duration(seconds: float) -> str:
    """As OpenAI writes x-ratelimit-reset-*: "20ms", "1.2s", "6m0s"."""
    if seconds < 1:
        return f"{round(seconds * 1000)}ms"
    if seconds < 60:
        return f"{round(seconds, 3):g}s"
    minutes, rest = divmod(seconds, 60)
    return f"{int(minutes)}m{round(rest, 3):g}s"


class RateBucket:
    """One limit: `limit` tokens per `window_s` (a minute upstream), refilled continuously."""

    def __init__(self, limit: int, window_s: float, clock: Callable[[], float]) -> None:
        self.limit = limit
        self.window_s = window_s
        self._clock = clock
        self._tokens = float(limit)
        self._updated = clock()

    def _refill(self) -> float:
        now = self._clock()
        self._tokens = min(
            float(self.limit), self._tokens + (now - self._updated) * self.limit / self.window_s
        )
        self._updated = now
        return self._tokens

    def wait_s(self, amount: int) -> float:
        """0 when `amount` tokens are there now, else the seconds until they are."""
        missing = amount - self._refill()
        return max(0.0, missing) * self.window_s / self.limit

    def take(self, amount: int) -> None:
        self._tokens = self._refill() - amount

    def remaining(self) -> int:
        return int(self._refill())

    def headers(self, kind: str) -> dict[str, str]:
        tokens = self._refill()
        return {
            f"x-ratelimit-limit-{kind}": str(self.limit),
            f"x-ratelimit-remaining-{kind}": str(int(tokens)),
            # Until the bucket is full again, as OpenAI's "time until the limit resets".
            f"x-ratelimit-reset-{kind}": duration(
                (self.limit - tokens) * self.window_s / self.limit
            ),
        }


class RateLimits:
    """The request and image limits that the config turns on, and the calls they refused."""

    def __init__(self, clock: Callable[[], float]) -> None:
        self.refused = 0
        self._clock = clock
        self._buckets: dict[str, RateBucket] = {}

    def headers(self, config: FakeOpenAIConfig) -> dict[str, str]:
        headers: dict[str, str] = {}
        for kind in ("requests", "images"):
            if (bucket := self._bucket(config, kind)) is not None:
                headers |= bucket.headers(kind)
        return headers

    def admit(self, config: FakeOpenAIConfig, model: str, n: int) -> None:
        """Takes one request and `n` images from the limits that are on, or raises 429."""
        requests, images = self._bucket(config, "requests"), self._bucket(config, "images")
        if requests is not None and (wait := requests.wait_s(1)) > 0:
            raise self._refuse(model, "requests", "requests per min (RPM)", requests, 1, wait)
        if requests is not None:
            requests.take(1)
        if images is not None and (wait := images.wait_s(n)) > 0:
            raise self._refuse(model, "images", "images per min (IPM)", images, n, wait)
        if images is not None:
            images.take(n)

    def _bucket(self, config: FakeOpenAIConfig, kind: str) -> RateBucket | None:
        """The bucket of a limit that is on; a limit changed while running starts afresh."""
        limit = (
            config.rate_limit_requests_per_minute
            if kind == "requests"
            else config.rate_limit_images_per_minute
        )
        bucket = self._buckets.get(kind)
        if limit <= 0:
            self._buckets.pop(kind, None)
            return None
        window = config.rate_limit_window_s
        if bucket is None or bucket.limit != limit or bucket.window_s != window:
            bucket = self._buckets[kind] = RateBucket(limit, window, self._clock)
        return bucket

    def _refuse(
        self, model: str, kind: str, unit: str, bucket: RateBucket, amount: int, wait_s: float
    ) -> ApiError:
        self.refused += 1
        msg = (
            f"Rate limit reached for {model} in organization org-fake on {unit}: "
            f"Limit {bucket.limit}, Used {bucket.limit - bucket.remaining()}, "
            f"Requested {amount}. Please try again in {duration(wait_s)}. "
            "Visit https://platform.openai.com/account/rate-limits to learn more."
        )
        # Whole seconds in the standard header; the SDK prefers the exact retry-after-ms.
        headers = {
            "Retry-After": str(math.ceil(wait_s)),
            "retry-after-ms": str(math.ceil(wait_s * 1000)),
        }
        return ApiError(429, msg, code="rate_limit_exceeded", kind=kind, headers=headers)
