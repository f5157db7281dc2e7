"""The cyclic garbage collector's pauses, as metrics: a pass holds the GIL, so every thread
(the event loop, the health port's, gRPC's) waits it out, and at many streams a full pass is
the largest stall the service has."""

from __future__ import annotations

import gc
import time
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram

# Young passes take well under a millisecond; a full one at 1,000 streams 100 ms to a second.
_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5)

# Process-wide, like the collector: every registry (one per server instance) shows the same.
PAUSES = Histogram(
    "visionstudio_gc_pause_seconds",
    "Wall time of each garbage collection pass (the GIL is held throughout), by generation "
    "(2 is a full pass).",
    ["generation"],
    buckets=_BUCKETS,
    registry=None,
)
COLLECTED = Counter(
    "visionstudio_gc_collected_objects_total",
    "Unreachable objects the garbage collector freed, by generation.",
    ["generation"],
    registry=None,
)


class _Timer:
    def __init__(self) -> None:
        self._started = 0.0

    def __call__(self, phase: str, info: dict[str, Any]) -> None:
        # Passes do not nest: each "start" is followed by its own "stop".
        if phase == "start":
            self._started = time.perf_counter()
            return
        generation = str(info["generation"])
        PAUSES.labels(generation).observe(time.perf_counter() - self._started)
        COLLECTED.labels(generation).inc(info["collected"])


_TIMER = _Timer()


def register(registry: CollectorRegistry) -> None:
    """Shows the pauses in `registry`; times every pass from the first call on."""
    if _TIMER not in gc.callbacks:
        gc.callbacks.append(_TIMER)
    registry.register(PAUSES)
    registry.register(COLLECTED)
