"""The rss section: server memory with 100, 1,000 and 5,000 streams waiting on a slow upstream,
opened as fast as the server accepts them and hung up on after the reading."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from visionstudio.image.v1 import image_service_pb2 as pb

from bench.perf.config import CORES, Config
from bench.perf.drivers import CallFailed, GrpcDriver, request
from bench.perf.phases import wait_until
from bench.perf.report import Report, Target
from bench.readings import proc_status_kib
from bench.stack import ServerOptions, Stack, Upstream, processes

OPEN_WINDOW = 200  # streams opened but not yet accepted, at most


@dataclass
class RssLevel:
    all_waiting: bool  # every stream was accepted and waiting upstream at one moment
    open_s: float
    rss_waiting_mib: float
    peak_mib: float
    errors: Counter[str]


@dataclass
class _Opener:
    """Opens streams that wait upstream, at most OPEN_WINDOW of them not yet accepted."""

    driver: GrpcDriver
    request: pb.GenerateImageRequest
    timeout_s: float
    window: asyncio.Semaphore = field(default_factory=lambda: asyncio.Semaphore(OPEN_WINDOW))
    accepted: int = 0
    errors: Counter[str] = field(default_factory=Counter)

    def _on_accepted(self) -> None:
        self.accepted += 1
        self.window.release()

    async def _one(self) -> None:
        try:
            await self.driver.call(
                self.request, timeout_s=self.timeout_s, accepted=self._on_accepted
            )
        except CallFailed as failed:
            self.errors[failed.kind] += 1
            self.window.release()

    async def open(self) -> asyncio.Task[None]:
        await self.window.acquire()
        return asyncio.create_task(self._one())


async def _rss_level(stack: Stack, config: Config, streams: int) -> RssLevel:
    """Opens `streams` streams, at most OPEN_WINDOW of them not yet accepted at any moment (a
    larger burst of new streams is partly CANCELLED by grpc before the server sees it); reads
    the server's memory once all wait upstream, then hangs up (the server, told not to detach
    jobs, cancels their upstream calls) and waits until the upstream is idle again."""
    driver = GrpcDriver(stack.grpc_port, streams)
    opener = _Opener(driver, request(config), timeout_s=config.rss_latency_s * 2)

    def all_waiting() -> bool:
        failed = sum(opener.errors.values())
        return opener.accepted + failed >= streams and (
            stack.upstream_stats()["in_flight"] >= streams - failed
        )

    tasks: list[asyncio.Task[None]] = []
    try:
        started = time.monotonic()
        for _ in range(streams):
            tasks.append(await opener.open())
        remaining_s = config.rss_latency_s - (time.monotonic() - started)
        waiting = await wait_until(all_waiting, remaining_s)
        open_s = time.monotonic() - started
        rss_waiting = proc_status_kib(stack.server_pid, "VmRSS")
        peak = proc_status_kib(stack.server_pid, "VmHWM")
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await driver.close()
    await wait_until(lambda: stack.upstream_stats()["in_flight"] == 0, 60)
    return RssLevel(waiting, open_s, rss_waiting / 1024, peak / 1024, opener.errors)


async def rss_section(report: Report) -> None:
    config = report.config
    levels = config.rss_levels
    runs: dict[int, list[RssLevel]] = {level: [] for level in levels}
    idle: list[float] = []
    for _ in range(config.repetitions):
        # No image is delivered (the streams are hung up on), so the flat ones do.
        upstream = Upstream(config.rss_latency_s, photographic=False)
        # Not detached: a stream the benchmark hangs up on takes its upstream call with it.
        options = ServerOptions(capacity=max(levels), env={"VISIONSTUDIO_DETACH_JOBS": "false"})
        with processes(upstream, options) as stack:
            await asyncio.sleep(1.0)
            idle.append(proc_status_kib(stack.server_pid, "VmRSS") / 1024)
            for level in levels:
                runs[level].append(await _rss_level(stack, config, level))
    base = {
        "image": config.image(photographic=False),
        "upstream_latency_s": config.rss_latency_s,
        "cores": CORES,
        "event_loop": "uvloop",
        "levels": "ascending in one server process per repetition, hung up after reading",
    }
    report.section("memory", base).add("server RSS idle", "MiB", idle, decimals=0)
    for level in levels:
        _add_level(report, base | {"concurrent_streams": level}, level, runs[level], idle)


def _add_level(
    report: Report,
    conditions: dict[str, Any],
    level: int,
    results: list[RssLevel],
    idle: list[float],
) -> None:
    section = report.section("memory", conditions)
    target = Target("<=", 1024.0) if level >= 5000 else None
    section.add(
        f"RSS with {level} streams waiting", "MiB", [r.rss_waiting_mib for r in results], target, 0
    )
    section.add(
        f"peak RSS (VmHWM) so far, {level} streams",
        "MiB",
        [r.peak_mib for r in results],
        decimals=0,
    )
    per_stream = [
        (r.rss_waiting_mib - i) * 1024 / level for r, i in zip(results, idle, strict=True)
    ]
    section.add(f"KiB per waiting stream, {level} streams", "KiB", per_stream, decimals=0)
    section.add(f"seconds to open {level} streams", "s", [r.open_s for r in results])
    section.add(
        f"failed streams of {level}",
        "",
        [float(sum(r.errors.values())) for r in results],
        Target("<=", 0.0),
        0,
    )
    for r in results:
        if r.errors:
            report.notes.append(f"memory: {level} streams: failed calls {dict(r.errors)}")
    if not all(r.all_waiting for r in results):
        report.notes.append(
            f"memory: not all {level} streams were waiting upstream at once in every "
            "repetition (raise --rss-latency)"
        )
