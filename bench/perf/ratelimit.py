"""The ratelimit section: an upstream limited to N images/min offered 3x that by three API keys:
utilisation, upstream 429s, 429s reaching callers, fairness between the keys."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from dataclasses import dataclass, field

from bench.perf.config import CORES, Config
from bench.perf.drivers import CallFailed, GrpcDriver, request
from bench.perf.report import Report, Target
from bench.stack import ServerOptions, Stack, Upstream, processes

# Three API keys and the share of the offered load each sends.
RATE_KEYS = {"bench-key-a": 0.5, "bench-key-b": 0.25, "bench-key-c": 0.25}


@dataclass
class RateRun:
    served_in_window: int = 0
    upstream_429: int = 0
    delivered: Counter[str] = field(default_factory=Counter)  # per key, within the window
    errors: Counter[str] = field(default_factory=Counter)


async def _rate_run(stack: Stack, config: Config, window_start: float) -> RateRun:
    run = RateRun()
    offered_per_s = 3 * config.rate_images_per_minute / 60
    driver = GrpcDriver(stack.grpc_port, 100)
    plain = request(config)
    began = time.monotonic()

    async def one(key: str) -> None:
        try:
            await driver.call(plain, key=key, timeout_s=config.rate_s)
        except CallFailed as failed:
            run.errors[failed.kind] += 1
            return
        if time.monotonic() - began >= window_start:
            run.delivered[key] += 1

    async def offer(key: str, share: float) -> list[asyncio.Task[None]]:
        """Calls at a steady rate until the end of the run."""
        interval = 1 / (offered_per_s * share)
        tasks = []
        at = began
        while at < began + config.rate_s:
            await asyncio.sleep(max(0.0, at - time.monotonic()))
            tasks.append(asyncio.create_task(one(key)))
            at += interval
        return tasks

    async def window() -> None:
        await asyncio.sleep(window_start)
        start = stack.upstream_stats()
        await asyncio.sleep(config.rate_s - window_start)
        end = stack.upstream_stats()
        run.served_in_window = end["served_images"] - start["served_images"]
        run.upstream_429 = end["rate_limited"]

    offers = [offer(key, share) for key, share in RATE_KEYS.items()]
    offered, _ = await asyncio.gather(asyncio.gather(*offers), window())
    for tasks in offered:
        for task in tasks:
            task.cancel()  # calls still waiting when the run ends are not counted
    await asyncio.gather(*(t for tasks in offered for t in tasks), return_exceptions=True)
    await driver.close()
    return run


def _jain(run: RateRun) -> float:
    """Jain's fairness index of the keys' deliveries: 1 when equal."""
    values = [run.delivered[key] for key in RATE_KEYS]
    return sum(values) ** 2 / (len(values) * (sum(v * v for v in values) or 1))


async def ratelimit_section(report: Report) -> None:
    """Offers 3x the upstream's image limit for `rate_s`; measures over the second half, when
    the upstream's initial minute of burst is spent."""
    config = report.config
    limit = config.rate_images_per_minute
    window_start = config.rate_s / 2
    upstream = Upstream(config.latency_s, photographic=config.photographic, images_per_minute=limit)
    runs: list[RateRun] = []
    for _ in range(config.repetitions):
        # The server is told the upstream's limit (its provider budget) and queues the rest.
        options = ServerOptions(
            keys=tuple(RATE_KEYS),
            capacity=1000,
            env={"VISIONSTUDIO_PROVIDER_IMAGES_PER_MINUTE": str(limit)},
        )
        with processes(upstream, options) as stack:
            runs.append(await _rate_run(stack, config, window_start))
    for run in runs:
        report.notes.append(f"ratelimit: caller-visible failures {dict(run.errors)}")
    conditions = {
        "image": config.image(),
        "upstream_latency_s": config.latency_s,
        "upstream_images_per_minute": limit,
        "server_budget_images_per_minute": limit,
        "offered_images_per_minute": 3 * limit,
        "offered_share_per_key": RATE_KEYS,
        "seconds": config.rate_s,
        "window": f"last {config.rate_s - window_start:g} s (the upstream's burst spent)",
        "cores": CORES,
    }
    section = report.section("upstream rate limit", conditions)
    in_window = limit * (config.rate_s - window_start) / 60
    section.add(
        "utilisation of the upstream limit",
        "%",
        [run.served_in_window / in_window * 100 for run in runs],
        Target(">=", 95.0),
    )
    section.add(
        "upstream 429s (whole run)", "", [float(run.upstream_429) for run in runs], decimals=0
    )
    section.add(
        "upstream 429s reaching callers",
        "",
        [float(run.errors["upstream 429"]) for run in runs],
        Target("<=", 0),
        0,
    )
    section.add(
        "Jain fairness over the keys' deliveries (1 = equal)",
        "",
        [_jain(run) for run in runs],
        Target(">=", 0.95),
        3,
    )
    for key in RATE_KEYS:
        shares = [run.delivered[key] / (sum(run.delivered.values()) or 1) for run in runs]
        section.add(f"share of images delivered, {key}", "", shares, decimals=3)
