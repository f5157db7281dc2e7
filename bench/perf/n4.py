"""The n4 section: time to the first and the last of 4 images, in multiples of one image's
latency (the median direct call of the same repetition)."""

from __future__ import annotations

import statistics

from bench.perf.config import CORES
from bench.perf.drivers import CallFailed, DirectDriver, GrpcDriver, request
from bench.perf.report import Report, Target
from bench.stack import Stack

RUNS = 3  # calls each way per repetition


async def n4_section(report: Report, stack: Stack) -> None:
    config = report.config
    conditions = {
        "image": config.image(),
        "upstream_latency_s": config.n4_latency_s,
        "concurrent_streams": 1,
        "calls_per_repetition": RUNS,
        "cores": CORES,
        "one_image": "median direct SDK call (n=1) of the same repetition",
    }
    grpc_driver = GrpcDriver(stack.grpc_port, 1)
    direct = DirectDriver(stack.upstream_url, config, 1)
    four = request(config, n=4)
    first: list[float] = []
    last: list[float] = []
    try:
        await direct.call()
        await grpc_driver.call(four)
        for _ in range(config.repetitions):
            one = statistics.median([await direct.call() for _ in range(RUNS)])
            arrivals = [await grpc_driver.call(four) for _ in range(RUNS)]
            first.append(statistics.median(a[0] for a in arrivals) / one)
            last.append(statistics.median(a[-1] for a in arrivals) / one)
    except CallFailed as failed:
        report.notes.append(f"n4: a call failed ({failed.kind})")
    finally:
        await grpc_driver.close()
        await direct.close()
    section = report.section("n=4 images", conditions)
    section.add("first image, x one image's latency", "x", first, Target("<=", 1.1), 3)
    section.add("last image, x one image's latency", "x", last, Target("<=", 1.3), 3)
