"""Stretches of load: callers started evenly or calling back to back, what they produced, and
the CPU and event-loop lag they cost."""

from __future__ import annotations

import asyncio
import os
import statistics
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field

from bench.perf.drivers import CallFailed
from bench.perf.report import Report
from bench.readings import Sample, cpu_seconds, idle_and_loaded, p50_p99_max_ms
from bench.stack import Stack

Call = Callable[[], Awaitable[float]]


@dataclass
class Phase:
    """What one stretch of load produced."""

    seconds: list[float] = field(default_factory=list)
    errors: Counter[str] = field(default_factory=Counter)
    started: float = 0.0  # time.monotonic, comparable with the health probe's samples
    ended: float = 0.0
    cpu_s: dict[str, float] = field(default_factory=dict)  # per process over the phase

    @property
    def wall_s(self) -> float:
        return self.ended - self.started

    async def record(self, call: Call) -> None:
        try:
            self.seconds.append(await call())
        except CallFailed as failed:
            self.errors[failed.kind] += 1


class CpuMeter:
    def __init__(self, stack: Stack) -> None:
        self._pids = {
            "server": stack.server_pid,
            "upstream": stack.upstream_pid,
            "load generator": os.getpid(),
        }
        self._before = {name: cpu_seconds(pid) for name, pid in self._pids.items()}

    def read(self) -> dict[str, float]:
        return {name: cpu_seconds(pid) - self._before[name] for name, pid in self._pids.items()}


async def staggered(
    call: Call, streams: int, rounds: int, spread_s: float, offset: float = 0.0
) -> Phase:
    """`streams` callers, each making `rounds` calls back to back, their first calls spread
    evenly over `spread_s` so that calls arrive at a steady rate instead of in bursts.
    `offset` (a fraction of one caller's slot) keeps groups of callers running side by side
    from starting, and so being answered, at the same instants."""
    phase = Phase()

    async def caller(index: int) -> None:
        await asyncio.sleep(spread_s * (index + offset) / streams)
        for _ in range(rounds):
            await phase.record(call)

    phase.started = time.monotonic()
    await asyncio.gather(*(caller(i) for i in range(streams)))
    phase.ended = time.monotonic()
    return phase


async def closed_loop(call: Call, streams: int, seconds: float) -> Phase:
    """`streams` callers calling back to back until `seconds` have passed."""
    phase = Phase()
    deadline = time.monotonic() + seconds

    async def caller() -> None:
        while time.monotonic() < deadline:
            await phase.record(call)

    phase.started = time.monotonic()
    await asyncio.gather(*(caller() for _ in range(streams)))
    phase.ended = time.monotonic()
    return phase


def lag(
    samples: Sequence[Sample], start: float, end: float, *, above_idle: bool = True
) -> tuple[float, float, float]:
    """Health-check time under load above the idle median (or whole, without `above_idle`):
    p50, p99, max (ms)."""
    idle, loaded = idle_and_loaded(samples, start, end)
    if not loaded or (above_idle and not idle):
        return (float("nan"),) * 3
    return p50_p99_max_ms(loaded, base=statistics.median(idle) if above_idle else 0.0)


def note_errors(report: Report, what: str, phases: Iterable[Phase]) -> None:
    errors: Counter[str] = Counter()
    for phase in phases:
        errors.update(phase.errors)
    if errors:
        report.notes.append(f"{what}: failed calls {dict(errors)}")


async def wait_until(check: Callable[[], bool], timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if check():
            return True
        await asyncio.sleep(0.2)
    return check()
