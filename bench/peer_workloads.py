"""The workloads of `python -m bench.peer`, each run the same way through every path so that the
figures are paired: sequential calls in rounds (every path once per round, the order rotated),
callers back to back at a fixed concurrency, and a burst of calls at once."""

from __future__ import annotations

import asyncio
import statistics
from collections import Counter
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field

from bench.perf.drivers import CallFailed
from bench.perf.phases import closed_loop

# One call: the seconds from its start to each image it asked for.
Call = Callable[[], Awaitable[list[float]]]


@dataclass
class Rounds:
    """Per path, one list of image arrival times per round; failures by kind."""

    arrivals: dict[str, list[list[float]]]
    errors: Counter[str] = field(default_factory=Counter)

    def first(self, path: str) -> list[float]:
        return [a[0] for a in self.arrivals[path]]

    def last(self, path: str) -> list[float]:
        return [a[-1] for a in self.arrivals[path]]

    def added_ms(self, path: str, baseline: str) -> list[float]:
        """Per round, `path` minus `baseline` (last image), in ms: paired differences."""
        paired = zip(self.last(path), self.last(baseline), strict=True)
        return [(mine - base) * 1000 for mine, base in paired]


async def rounds(calls: Mapping[str, Call], runs: int) -> Rounds:
    """`runs` rounds of one call per path; a round with a failed call is dropped whole, so the
    figures stay paired."""
    names = list(calls)
    result = Rounds({name: [] for name in names})
    for r in range(runs):
        order = names[r % len(names) :] + names[: r % len(names)]
        seen: dict[str, list[float]] = {}
        for name in order:
            try:
                seen[name] = await calls[name]()
            except CallFailed as failed:
                result.errors[f"{name}: {failed.kind}"] += 1
        if len(seen) == len(names):
            for name in names:
                result.arrivals[name].append(seen[name])
    return result


async def cpu_per_image_ms(
    call: Call, cpu_seconds: Callable[[], float], in_flight: int, seconds: float
) -> tuple[float, int, Counter[str]]:
    """Callers keeping `in_flight` calls open for `seconds`: the gateway's CPU (from
    `cpu_seconds`) per image delivered, the images, and the failures."""

    async def one() -> float:
        return (await call())[-1]

    await closed_loop(one, in_flight, 1.0)  # warm every connection first
    before = cpu_seconds()
    phase = await closed_loop(one, in_flight, seconds)
    spent = cpu_seconds() - before
    return spent / max(1, len(phase.seconds)) * 1000, len(phase.seconds), phase.errors


async def at_once(call: Call, calls: int) -> tuple[float, int]:
    """`calls` calls started together: the median seconds of those that delivered, and how
    many failed."""
    outcomes = await asyncio.gather(*(call() for _ in range(calls)), return_exceptions=True)
    for outcome in outcomes:
        if isinstance(outcome, BaseException) and not isinstance(outcome, CallFailed):
            raise outcome
    seconds = [o[-1] for o in outcomes if isinstance(o, list)]
    return (statistics.median(seconds) if seconds else float("nan")), calls - len(seconds)
