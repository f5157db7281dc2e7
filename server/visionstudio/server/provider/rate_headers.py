"""Reading what the provider says about its rate limits: x-ratelimit-* and Retry-After.

OpenAI sends, on every answer, `x-ratelimit-limit-<kind>`, `x-ratelimit-remaining-<kind>` and
`x-ratelimit-reset-<kind>` (the time until the limit is full again, as "20ms", "1s", "6m0s")
for requests, images and tokens; a 429 says how long to wait in `retry-after-ms` (exact) or
`retry-after` (seconds).
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Mapping
from dataclasses import dataclass

KINDS = ("requests", "images", "tokens")
_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|h|m|s)")
_UNIT_S = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}


@dataclass(frozen=True)
class LimitReport:
    """One limit as one answer described it."""

    kind: str
    limit: float
    remaining: float
    reset_s: float


def duration_s(text: str) -> float | None:
    """Seconds in a Go-style duration ("20ms", "1.5s", "6m0s", "1h2m3s"); a bare number is
    seconds. None when it cannot be read."""
    text = text.strip()
    with contextlib.suppress(ValueError):
        return float(text)
    parts = _PART.findall(text)
    if not parts or "".join(n + u for n, u in parts) != text:
        return None
    return sum(float(number) * _UNIT_S[unit] for number, unit in parts)


def limit_reports(headers: Mapping[str, str]) -> list[LimitReport]:
    """Every limit the answer describes completely (limit, remaining and reset)."""
    reports = []
    for kind in KINDS:
        limit = headers.get(f"x-ratelimit-limit-{kind}")
        remaining = headers.get(f"x-ratelimit-remaining-{kind}")
        reset = headers.get(f"x-ratelimit-reset-{kind}")
        if limit is None or remaining is None or reset is None:
            continue
        reset_s = duration_s(reset)
        with contextlib.suppress(ValueError):
            if reset_s is not None and float(limit) > 0:
                reports.append(LimitReport(kind, float(limit), float(remaining), reset_s))
    return reports


def retry_after_s(headers: Mapping[str, str]) -> float | None:
    """How long a 429 (or 503) asks callers to wait, if it says."""
    exact = headers.get("retry-after-ms")
    if exact is not None:
        with contextlib.suppress(ValueError):
            return float(exact) / 1000
    seconds = headers.get("retry-after")
    if seconds is not None:
        with contextlib.suppress(ValueError):
            return float(seconds)
    return None
