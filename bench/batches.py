"""A large batch against a budget-limited upstream: its images per second against the budget,
and what it adds to another key's single calls.

The loopback upstream enforces N images per window (429 beyond, like OpenAI's per-minute
limits, with a shorter window for a fast run); the server learns the limit from its answers.
Another key first makes single calls with the service idle, then while one key's batch of
`--items` runs. Reported: the batch's images/s (overall, and as a share of the budget's pace
after its initial burst, the other key's images counted in), the upstream's 429s, and the other
key's latency p50/p95 idle and during the batch (the difference is what the batch adds).
Usage: python -m bench.batches [--items 500] [--per-window 120] [--window 4] [--latency 0.2]
                               [--concurrency 16] [--json]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import time
from dataclasses import asdict, dataclass

import grpc
from visionstudio.image.v1 import image_service_pb2 as pb
from visionstudio.image.v1 import image_service_pb2_grpc as pb_grpc

from bench.stack import ServerOptions, Upstream, processes

BATCH_KEY, OTHER_KEY = "batch-key", "other-key"


@dataclass(frozen=True)
class Result:
    items: int
    budget_images_per_s: float
    batch_s: float
    images_per_s: float
    share_of_budget: float
    upstream_429: int
    idle_p50_ms: float
    idle_p95_ms: float
    during_p50_ms: float
    during_p95_ms: float
    added_p50_ms: float
    added_p95_ms: float
    during_calls: int
    cores: int


def _p(values: list[float], q: int) -> float:
    return statistics.quantiles(values, n=100)[q - 1] * 1000 if len(values) > 1 else 0.0


async def _single(stub: pb_grpc.ImageServiceAsyncStub, prompt: str) -> float:
    started = time.monotonic()
    call = stub.GenerateImage(
        pb.GenerateImageRequest(prompt=prompt), metadata=(("x-api-key", OTHER_KEY),)
    )
    async for _ in call:
        pass
    return time.monotonic() - started


async def _singles_until(stub: pb_grpc.ImageServiceAsyncStub, done: asyncio.Event) -> list[float]:
    latencies: list[float] = []
    while not done.is_set():
        latencies.append(await _single(stub, f"during {len(latencies)}"))
    return latencies


async def _batch(stub: pb_grpc.ImageServiceAsyncStub, items: int, done: asyncio.Event) -> int:
    request = pb.RunBatchRequest(
        items=[
            pb.BatchRequestItem(item_id=f"i{n}", generate=pb.GenerateImageRequest(prompt=f"{n}"))
            for n in range(items)
        ]
    )
    images = 0
    try:
        async for event in stub.RunBatch(request, metadata=(("x-api-key", BATCH_KEY),)):
            images += event.HasField("image")
    finally:
        done.set()
    return images


async def _run(
    items: int, per_window: int, window_s: float, latency_s: float, concurrency: int
) -> Result:
    upstream = Upstream(latency_s=latency_s, images_per_minute=per_window, window_s=window_s)
    options = ServerOptions(
        keys=(BATCH_KEY, OTHER_KEY),
        capacity=4 * items,
        env={"VISIONSTUDIO_BATCH_ITEM_CONCURRENCY": str(concurrency)},
    )
    with processes(upstream, options) as stack:
        async with grpc.aio.insecure_channel(stack.target) as channel:
            stub = pb_grpc.ImageServiceStub(channel)
            idle = [await _single(stub, f"idle {n}") for n in range(20)]
            done = asyncio.Event()
            started = time.monotonic()
            images, during = await asyncio.gather(
                _batch(stub, items, done), _singles_until(stub, done)
            )
            batch_s = time.monotonic() - started
        rate_limited = stack.upstream_stats()["rate_limited"]
    budget = per_window / window_s
    # The bucket starts full (one window's worth): the budget's pace is for the rest. The
    # other key's images share the budget.
    ideal_s = max(0.0, images + len(during) - per_window) / budget
    return Result(
        items=items,
        budget_images_per_s=budget,
        batch_s=batch_s,
        images_per_s=images / batch_s,
        share_of_budget=ideal_s / batch_s if batch_s else 0.0,
        upstream_429=rate_limited,
        idle_p50_ms=_p(idle, 50),
        idle_p95_ms=_p(idle, 95),
        during_p50_ms=_p(during, 50),
        during_p95_ms=_p(during, 95),
        added_p50_ms=_p(during, 50) - _p(idle, 50),
        added_p95_ms=_p(during, 95) - _p(idle, 95),
        during_calls=len(during),
        cores=os.cpu_count() or 0,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--items", type=int, default=500)
    parser.add_argument("--per-window", type=int, default=120, help="the upstream's image limit")
    parser.add_argument("--window", type=float, default=4.0, help="the limit's window, seconds")
    parser.add_argument("--latency", type=float, default=0.2, help="upstream seconds per image")
    parser.add_argument("--concurrency", type=int, default=16, help="items of the batch at once")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    result = asyncio.run(
        _run(args.items, args.per_window, args.window, args.latency, args.concurrency)
    )
    if args.json:
        print(json.dumps(asdict(result)))
        return
    print(
        f"batch of {result.items} items; upstream {args.per_window} images per {args.window:g} s "
        f"({result.budget_images_per_s:.0f}/s after the burst), {args.latency:g} s each; "
        f"{args.concurrency} items at once; {result.cores} cores"
    )
    print(
        f"  batch              {result.batch_s:.1f} s, {result.images_per_s:.1f} images/s "
        f"({100 * result.share_of_budget:.0f}% of the budget's pace); "
        f"429s upstream {result.upstream_429}"
    )
    print(
        f"  other key's calls  idle p50 {result.idle_p50_ms:.0f} ms, p95 {result.idle_p95_ms:.0f} "
        f"ms; during the batch p50 {result.during_p50_ms:.0f} ms, p95 "
        f"{result.during_p95_ms:.0f} ms ({result.during_calls} calls)"
    )
    print(
        f"  added latency      p50 {result.added_p50_ms:+.0f} ms, p95 {result.added_p95_ms:+.0f} ms"
    )
    print(json.dumps(asdict(result)))


if __name__ == "__main__":
    main()
