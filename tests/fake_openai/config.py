"""The fake's behaviour knobs, which tests may change while it runs."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Failure:
    """One canned answer: an error, or (`raw`) any bytes at all, such as a malformed 200."""

    status: int
    body: dict[str, Any]
    headers: dict[str, str] = field(default_factory=dict)
    raw: bytes | None = None
    content_type: str = "application/json"


@dataclass
class FakeOpenAIConfig:
    """Behaviour knobs; tests may change them while the server runs."""

    api_key: str = "sk-test"
    latency_s: float = 0.0  # sleep before answering each image call (spread over stream events)
    # Per-call latencies, popped one per image call in arrival order; latency_s once empty.
    next_latencies: list[float] = field(default_factory=list)
    # Connection faults for the next image calls (generations and edits), each taking one call
    # once its request was read, before `fail_next`: drops first, then hangs.
    # drop_next: the TCP connection is closed without any HTTP answer (a crashed server or proxy).
    drop_next: int = 0
    # hang_next: nothing is ever answered; the call waits until the client hangs up.
    hang_next: int = 0
    # Queued failures, popped one per request before normal handling. The body may be the full
    # {"error": {...}} or just the inner error object; `headers` (e.g. Retry-After) are sent too.
    fail_next: list[Failure] = field(default_factory=list)
    # True: edits recolor every pixel (like the real model, which repaints the whole frame).
    # False: only the mask's transparent area is recolored (an "ideal" model).
    edit_changes_every_pixel: bool = True
    record_requests: bool = True  # benchmarks with big uploads can turn recording off
    # The account's rate limits, as OpenAI enforces them: a token bucket per kind holding a
    # minute's worth (a full minute's burst), refilled continuously. 0 turns a limit off.
    # Every image call takes one request and `n` images; over either limit it is answered 429
    # (type "requests" or "images", code "rate_limit_exceeded") with Retry-After. A call refused
    # for images still used up its request, as a refused call counts against OpenAI's RPM.
    # Every answer of an image route carries the x-ratelimit-* headers of each limit that is on.
    rate_limit_requests_per_minute: int = 0
    rate_limit_images_per_minute: int = 0
    # The limits' window in seconds: OpenAI's is a minute; tests shorten it (a limit of 8 with
    # a window of 2 s admits a burst of 8, then 4 a second). The names keep "per minute".
    rate_limit_window_s: float = 60.0
    # True: generations get a fine grain, so a 1024x1024 PNG is about 1.5 MB as the real
    # API's are (and the bytes to decode, store and stream are realistic), not about 50 KB.
    photographic: bool = False
