"""The latency section: added latency over the direct call with many concurrent streams through
the server (gRPC, gRPC include_data and HTTP/JSON), and meanwhile the event-loop lag, health
checks, the server's CPU per image, its peak RSS and its garbage-collector passes."""

from __future__ import annotations

import asyncio
import statistics
from dataclasses import dataclass, field
from typing import Any

from bench.perf.config import CORES
from bench.perf.drivers import DirectDriver, GrpcDriver, HttpDriver, request
from bench.perf.gc_reading import GcPasses, read_gc_passes
from bench.perf.phases import Call, CpuMeter, Phase, lag, note_errors, staggered
from bench.perf.report import Report, Target
from bench.readings import HealthProbe, pct, proc_status_kib
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


@dataclass
class Readings:
    """Per surface and repetition, what the load cost and how the server held up."""

    added: dict[str, list[Added]]
    lags: list[Spread] = field(default_factory=list)  # health checks on the gRPC port
    checks: list[Spread] = field(default_factory=list)  # on the health port
    cpu_ms_per_image: list[float] = field(default_factory=list)
    peak_rss_mib: list[float] = field(default_factory=list)
    gc: list[GcPasses] = field(default_factory=list)


async def _measure(
    report: Report, stack: Stack, direct: Call, variants: dict[str, Call], loop: str
) -> Readings:
    """Added latencies per surface; the event loop's lag (health checks on the gRPC port)
    and health checks on the health port (answered off the loop) during the load."""
    config = report.config
    share = config.streams // len(variants)
    readings = Readings({name: [] for name in variants})
    phases: list[Phase] = []
    # Warm every connection and pool (and the upstream's cached image) before timing.
    for call in (direct, *variants.values()):
        await staggered(call, share, 1, 0.0)
    for _ in range(config.repetitions):
        gc_before, cpu = read_gc_passes(stack), CpuMeter(stack)
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
        images = sum(len(phase.seconds) for phase in measured)
        readings.cpu_ms_per_image.append(cpu.read()["server"] * 1000 / max(images, 1))
        readings.peak_rss_mib.append(proc_status_kib(stack.server_pid, "VmHWM") / 1024)
        readings.gc.append(read_gc_passes(stack) - gc_before)
        readings.lags.append(lag(probe.samples, baseline.started, baseline.ended))
        checks = lag(health.samples, baseline.started, baseline.ended, above_idle=False)
        readings.checks.append(checks)
        phases += [baseline, *measured]
        for name, phase in zip(variants, measured, strict=True):
            readings.added[name].append(_added(phase, baseline))
    note_errors(report, f"latency ({loop})", phases)
    return readings


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
        readings = await _measure(report, stack, direct.call, variants, loop)
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
    _add_figures(report, conditions, readings.added, readings.lags, loop)
    _add_health(report, conditions, readings, loop)
    _add_gc(report, conditions, readings.gc, loop)


def _add_health(report: Report, conditions: dict[str, Any], readings: Readings, loop: str) -> None:
    streams = report.config.streams
    health = report.section(
        "health checks",
        conditions | {"measured_as": "grpc.health.v1 Check on the health port, whole time"},
    )
    for i, which in enumerate(("p50", "p99", "max")):
        health.add(
            f"health check {which}, {streams} streams, {loop}",
            "ms",
            [entry[i] for entry in readings.checks],
            Target("<=", 50.0) if which == "p99" else None,
        )
    cost = report.section("server cost", conditions)
    cost.add(f"server CPU per image, {streams} streams, {loop}", "ms", readings.cpu_ms_per_image)
    cost.add(f"server peak RSS, {streams} streams, {loop}", "MiB", readings.peak_rss_mib)


def _add_gc(report: Report, conditions: dict[str, Any], gcs: list[GcPasses], loop: str) -> None:
    """The collector's passes during the load: each holds the GIL, so every thread stalls."""
    section = report.section(
        "garbage collector",
        conditions | {"measured_as": "visionstudio_gc_pause_seconds over the phase"},
    )
    for gen in ("0", "1", "2"):
        label = f"gen {gen}, {report.config.streams} streams, {loop}"
        section.add(f"gc passes, {label}", "", [g.count[gen] for g in gcs], decimals=0)
        section.add(f"gc pause total, {label}", "ms", [g.seconds[gen] * 1000 for g in gcs])
        longest = [g.longest_at_most_s(gen) * 1000 for g in gcs]
        section.add(f"gc longest pass (bucket bound), {label}", "ms", longest)


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
