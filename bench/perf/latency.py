"""The latency section: added latency over the direct call with many concurrent streams through
the server (gRPC, gRPC include_data and HTTP/JSON), and the event-loop lag meanwhile."""

from __future__ import annotations

import asyncio
import statistics
from typing import Any

from bench.perf.config import CORES
from bench.perf.drivers import DirectDriver, GrpcDriver, HttpDriver, request
from bench.perf.phases import Call, Phase, lag, note_errors, staggered
from bench.perf.report import Report, Target
from bench.readings import HealthProbe, pct
from bench.stack import Stack

# Per surface and repetition: added p50 and p99 (ms) over the direct call, and the p50 ratio.
Added = tuple[float, float, float]


def _added(phase: Phase, baseline: Phase) -> Added:
    p50, base50 = statistics.median(phase.seconds), statistics.median(baseline.seconds)
    return (
        (p50 - base50) * 1000,
        (pct(phase.seconds, 0.99) - pct(baseline.seconds, 0.99)) * 1000,
        p50 / base50,
    )


# p50, p99, max (ms), per repetition.
Spread = tuple[float, float, float]


async def _measure(
    report: Report, stack: Stack, direct: Call, variants: dict[str, Call], loop: str
) -> tuple[dict[str, list[Added]], list[Spread], list[Spread]]:
    """Added latencies per surface; the event loop's lag (health checks on the gRPC port)
    and health checks on the health port (answered off the loop) during the load."""
    config = report.config
    share = config.streams // len(variants)
    results: dict[str, list[Added]] = {name: [] for name in variants}
    lags: list[Spread] = []
    checks: list[Spread] = []
    phases: list[Phase] = []
    # Warm every connection and pool (and the upstream's cached image) before timing.
    for call in (direct, *variants.values()):
        await staggered(call, share, 1, 0.0)
    for _ in range(config.repetitions):
        with HealthProbe(stack.grpc_port) as probe, HealthProbe(stack.health_port) as health:
            await asyncio.sleep(1.0)  # the probe's idle baseline
            # Interleaved: the upstream answers calls in the order they came, and calls
            # started together would be answered (and handled) one after the other.
            groups = len(variants)
            baseline, *measured = await asyncio.gather(
                staggered(direct, config.streams, config.rounds, config.latency_s, 0.5),
                *(
                    staggered(call, share, config.rounds, config.latency_s, g / groups)
                    for g, call in enumerate(variants.values())
                ),
            )
        lags.append(lag(probe.samples, baseline.started, baseline.ended))
        checks.append(lag(health.samples, baseline.started, baseline.ended, above_idle=False))
        phases += [baseline, *measured]
        for name, phase in zip(variants, measured, strict=True):
            results[name].append(_added(phase, baseline))
    note_errors(report, f"latency ({loop})", phases)
    return results, lags, checks


async def latency_section(report: Report, stack: Stack, loop: str) -> None:
    """Added latency with `streams` concurrent streams through the server (shared evenly by
    gRPC, gRPC include_data and HTTP/JSON) while as many streams call the upstream directly at
    the same time: both paths see the same machine at the same moment."""
    config = report.config
    grpc_driver = GrpcDriver(stack.grpc_port, config.streams)
    direct = DirectDriver(stack.upstream_url, config, config.streams)
    http = HttpDriver(stack.http_port, config, config.streams)
    plain, with_data = request(config), request(config, include_data=True)

    async def via_grpc() -> float:
        return (await grpc_driver.call(plain))[0]

    async def via_grpc_data() -> float:
        return (await grpc_driver.call(with_data))[0]

    variants: dict[str, Call] = {
        "gRPC": via_grpc,
        "gRPC include_data": via_grpc_data,
        "HTTP/JSON": http.call,
    }
    try:
        results, lags, checks = await _measure(report, stack, direct.call, variants, loop)
    finally:
        await grpc_driver.close()
        await direct.close()
        await http.close()
    share = config.streams // len(variants)
    conditions = {
        "image": config.image(),
        "upstream_latency_s": config.latency_s,
        "streams_through_server": config.streams,
        "split": " / ".join(f"{share} {name}" for name in variants),
        "direct_streams_alongside": config.streams,
        "calls_per_stream": config.rounds,
        "cores": CORES,
        "event_loop": loop,
    }
    _add_figures(report, conditions, results, lags, loop)
    _add_health(report, conditions, checks, loop)


def _add_health(
    report: Report, conditions: dict[str, Any], checks: list[Spread], loop: str
) -> None:
    health = report.section(
        "health checks",
        conditions | {"measured_as": "grpc.health.v1 Check on the health port, whole time"},
    )
    for i, which in enumerate(("p50", "p99", "max")):
        health.add(
            f"health check {which}, {report.config.streams} streams, {loop}",
            "ms",
            [entry[i] for entry in checks],
            Target("<=", 50.0) if which == "p99" else None,
        )


def _add_figures(
    report: Report,
    conditions: dict[str, Any],
    results: dict[str, list[Added]],
    lags: list[Spread],
    loop: str,
) -> None:
    added = report.section("added latency", conditions)
    for name, runs in results.items():
        label = f"{name}, {loop}"
        added.add(
            f"added p50 over direct SDK call, {label}",
            "ms",
            [r[0] for r in runs],
            Target("<=", 3.0),
        )
        added.add(
            f"added p99 over direct SDK call, {label}",
            "ms",
            [r[1] for r in runs],
            Target("<=", 15.0),
        )
        added.add(f"p50 ratio to direct, {label}", "x", [r[2] for r in runs], decimals=3)
    lag_conditions = conditions | {
        "measured_as": "health check time minus its idle median, during the phase above"
    }
    lagging = report.section("event-loop lag", lag_conditions)
    for i, which in enumerate(("p50", "p99", "max")):
        lagging.add(
            f"lag {which}, {report.config.streams} streams, {loop}",
            "ms",
            [entry[i] for entry in lags],
        )
