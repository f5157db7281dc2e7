"""The saturation section: images/s and server CPU per image when the server is the bottleneck,
beside the rate the same load generator reaches calling the upstream directly."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from bench.perf.config import CORES
from bench.perf.drivers import DirectDriver, GrpcDriver, request
from bench.perf.phases import Call, CpuMeter, Phase, closed_loop, lag, note_errors
from bench.perf.report import Report
from bench.readings import HealthProbe
from bench.stack import Stack


@dataclass
class _Runs:
    """One value per repetition of each figure."""

    rates: list[float] = field(default_factory=list)
    direct_rates: list[float] = field(default_factory=list)
    cpu_per_image_ms: list[float] = field(default_factory=list)
    server_cores: list[float] = field(default_factory=list)
    lag_p99_ms: list[float] = field(default_factory=list)


async def _measure(report: Report, stack: Stack, via_grpc: Call, direct: Call, loop: str) -> _Runs:
    config = report.config
    streams = config.saturation_streams
    runs = _Runs()
    phases: list[Phase] = []
    await closed_loop(via_grpc, streams, 1.0)
    await closed_loop(direct, streams, 1.0)
    for _ in range(config.repetitions):
        # The upstream alone, as fast as this load generator drives it: the ceiling.
        baseline = await closed_loop(direct, streams, config.saturation_s / 2)
        runs.direct_rates.append(len(baseline.seconds) / baseline.wall_s)
        with HealthProbe(stack.grpc_port) as probe:
            await asyncio.sleep(1.0)
            meter = CpuMeter(stack)
            phase = await closed_loop(via_grpc, streams, config.saturation_s)
            phase.cpu_s = meter.read()
        phases.append(phase)
        done = max(1, len(phase.seconds))
        runs.rates.append(len(phase.seconds) / phase.wall_s)
        runs.cpu_per_image_ms.append(phase.cpu_s["server"] / done * 1000)
        runs.server_cores.append(phase.cpu_s["server"] / phase.wall_s)
        runs.lag_p99_ms.append(lag(probe.samples, phase.started, phase.ended)[1])
    note_errors(report, f"saturation ({loop})", phases)
    return runs


async def saturation_section(report: Report, stack: Stack, loop: str) -> None:
    config = report.config
    streams = config.saturation_streams
    conditions = {
        "image": config.image(),
        "upstream_latency_s": config.saturation_latency_s,
        "concurrent_streams": streams,
        "seconds_per_repetition": config.saturation_s,
        "cores": CORES,
        "event_loop": loop,
        "note": "server, upstream and load generator share the cores",
    }
    grpc_driver = GrpcDriver(stack.grpc_port, streams)
    direct = DirectDriver(stack.upstream_url, config, streams)
    plain = request(config)

    async def via_grpc() -> float:
        return (await grpc_driver.call(plain))[0]

    try:
        runs = await _measure(report, stack, via_grpc, direct.call, loop)
    finally:
        await grpc_driver.close()
        await direct.close()
    section = report.section("saturation", conditions)
    section.add(f"images/s through the server, {loop}", "1/s", runs.rates)
    section.add(f"images/s direct to the upstream, {loop} run", "1/s", runs.direct_rates)
    ratios = [r / d for r, d in zip(runs.rates, runs.direct_rates, strict=True)]
    section.add(f"throughput ratio server/direct, {loop}", "x", ratios, decimals=2)
    section.add(
        f"server CPU per image (utime+stime), {loop}", "ms", runs.cpu_per_image_ms, decimals=2
    )
    section.add(f"server CPU in use, {loop}", "cores", runs.server_cores, decimals=2)
    section.add(f"event-loop lag p99 at saturation, {loop}", "ms", runs.lag_p99_ms)
