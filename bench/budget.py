"""Spending the provider's rate limit: utilisation, 429s and fairness under 3x the offered load.

The loopback upstream enforces N images per minute (answering 429 beyond, like OpenAI); the
server is told the same budget. Several API keys then offer far more than N (closed loops with
many workers each, at least 3x N per minute) for a while. Reported: the images the upstream
served per second once the initial burst (the bucket's first minute) is spent, as a share of
N/60; the 429s the upstream sent and any error a caller saw; and each key's share of the images.
Usage: python -m bench.budget [--per-minute 600] [--keys 3] [--workers 8] [--seconds 40]
                              [--without-budget] [--json]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import time
from collections import Counter
from dataclasses import asdict, dataclass

import grpc
from visionstudio.client import AsyncImageClient

from bench.stack import ServerOptions, Upstream, processes


async def _worker(
    target: str, key: str, stop: float, served: Counter[str], errors: Counter[str]
) -> None:
    async with AsyncImageClient(target, key) as client:
        while time.monotonic() < stop:
            try:
                async for event in client.generate("budget", timeout=120):
                    if event.HasField("image"):
                        served[key] += 1
            except grpc.aio.AioRpcError as err:
                errors[err.code().name] += 1


@dataclass(frozen=True)
class Result:
    per_minute: int
    keys: int
    workers_per_key: int
    seconds: float
    cores: int
    steady_images_per_s: float
    utilisation: float
    upstream_429: int
    caller_errors: dict[str, int]
    share_by_key: dict[str, float]
    images_delivered: int


async def _run(per_minute: int, keys: int, workers: int, seconds: float, budget: bool) -> Result:
    names = tuple(f"budget-key-{i}" for i in range(keys))
    options = ServerOptions(
        keys=names,
        capacity=4 * keys * workers,
        env={"VISIONSTUDIO_PROVIDER_IMAGES_PER_MINUTE": str(per_minute if budget else 0)},
    )
    with processes(Upstream(latency_s=0.2, images_per_minute=per_minute), options) as stack:
        target = f"127.0.0.1:{stack.grpc_port}"
        served: Counter[str] = Counter()
        errors: Counter[str] = Counter()
        start = time.monotonic()
        stop = start + seconds
        samples: list[tuple[float, int]] = []

        async def sample() -> None:
            while time.monotonic() < stop:
                stats = await asyncio.to_thread(stack.upstream_stats)
                samples.append((time.monotonic() - start, stats["served_images"]))
                await asyncio.sleep(1)

        await asyncio.gather(
            sample(),
            *(_worker(target, key, stop, served, errors) for key in names for _ in range(workers)),
        )
        rate_limited = stack.upstream_stats()["rate_limited"]
    # The bucket starts with a minute's worth; measure the steady rate after it is spent.
    burst_over = next((t for t, n in samples if n >= per_minute), seconds)
    steady = [(t, n) for t, n in samples if t >= burst_over + 2]
    if len(steady) >= 2:
        rate = (steady[-1][1] - steady[0][1]) / (steady[-1][0] - steady[0][0])
    else:
        rate = 0.0
    total = sum(served.values())
    return Result(
        per_minute=per_minute,
        keys=keys,
        workers_per_key=workers,
        seconds=seconds,
        cores=os.cpu_count() or 0,
        steady_images_per_s=rate,
        utilisation=rate / (per_minute / 60),
        upstream_429=rate_limited,
        caller_errors=dict(errors),
        share_by_key={k: served[k] / total if total else 0.0 for k in names},
        images_delivered=total,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--per-minute", type=int, default=600, help="the upstream's image limit")
    parser.add_argument("--keys", type=int, default=3)
    parser.add_argument("--workers", type=int, default=8, help="concurrent calls per key")
    parser.add_argument("--seconds", type=float, default=40)
    parser.add_argument(
        "--without-budget", action="store_true", help="the server not told the limit (baseline)"
    )
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    result = asyncio.run(
        _run(args.per_minute, args.keys, args.workers, args.seconds, not args.without_budget)
    )
    if args.json:
        print(json.dumps(asdict(result)))
        return
    offered = args.keys * args.workers / 0.2 * 60
    print(
        f"upstream limit {args.per_minute} images/min; {args.keys} keys x {args.workers} "
        f"workers (can offer about {offered:.0f}/min, {offered / args.per_minute:.0f}x); "
        f"{args.seconds:.0f} s; {result.cores} cores"
    )
    print(
        f"  steady rate        {result.steady_images_per_s:.2f} images/s "
        f"= {100 * result.utilisation:.1f}% of the limit (target >= 95%)"
    )
    print(
        f"  429s from upstream {result.upstream_429} (target 0); "
        f"caller errors {result.caller_errors or 0}"
    )
    shares = ", ".join(f"{v:.1%}" for v in result.share_by_key.values())
    print(f"  share by key       {shares} (fair: {1 / args.keys:.1%} each)")
    print(json.dumps(asdict(result)))


if __name__ == "__main__":
    main()
