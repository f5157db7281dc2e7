"""Added latency of the service over calling the same upstream directly with the openai SDK.

Starts a loopback OpenAI-compatible upstream with a fixed per-image latency and the real server,
each in its own process, then times sequential calls both ways on this machine.
Usage: python -m bench.latency [--latency 0.5] [--runs 20]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import time

import grpc
from openai import AsyncOpenAI
from visionstudio.client import AsyncImageClient

from bench.readings import pct
from bench.stack import CLIENT_KEY, MODEL, UPSTREAM_KEY, Upstream, processes


async def _direct(base_url: str, runs: int) -> list[float]:
    client = AsyncOpenAI(api_key=UPSTREAM_KEY, base_url=base_url, max_retries=0)
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        await client.images.generate(model=MODEL, prompt="a lighthouse", n=1, size="1024x1024")
        times.append(time.perf_counter() - start)
    await client.close()
    return times


async def _via_service(port: int, runs: int, n: int) -> list[list[float]]:
    """Per call, the seconds at which each image event arrived."""
    arrivals = []
    async with AsyncImageClient(f"127.0.0.1:{port}", CLIENT_KEY) as client:
        for _ in range(runs):
            start = time.perf_counter()
            seen = []
            async for event in client.generate("a lighthouse", number_of_images=n):
                if event.WhichOneof("event") == "image":
                    seen.append(time.perf_counter() - start)
            arrivals.append(seen)
    return arrivals


async def _run(latency_s: float, runs: int) -> dict[str, float]:
    with processes(Upstream(latency_s)) as stack:
        base_url, port = stack.upstream_url, stack.grpc_port
        # Warm both paths (connections, imports) before timing.
        await _direct(base_url, 2)
        await _via_service(port, 2, 1)
        direct = await _direct(base_url, runs)
        service = [a[0] for a in await _via_service(port, runs, 1)]
        four = await _via_service(port, max(3, runs // 4), 4)
    one = statistics.median(direct)
    return {
        "upstream_latency_s": latency_s,
        "runs": runs,
        "cores": os.cpu_count() or 0,
        "direct_p50_ms": statistics.median(direct) * 1000,
        "direct_p99_ms": pct(direct, 0.99) * 1000,
        "service_p50_ms": statistics.median(service) * 1000,
        "service_p99_ms": pct(service, 0.99) * 1000,
        "added_p50_ms": (statistics.median(service) - statistics.median(direct)) * 1000,
        "added_p99_ms": (pct(service, 0.99) - pct(direct, 0.99)) * 1000,
        "n4_first_image_x": statistics.median(a[0] for a in four) / one,
        "n4_last_image_x": statistics.median(a[-1] for a in four) / one,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--latency", type=float, default=0.5, help="upstream seconds per image")
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--json", action="store_true", help="print JSON only")
    args = parser.parse_args()
    os.environ.setdefault("GRPC_VERBOSITY", "ERROR")
    result = asyncio.run(_run(args.latency, args.runs))
    if args.json:
        print(json.dumps(result))
        return
    print(
        f"1024x1024 PNG, upstream latency {args.latency * 1000:.0f} ms/image, "
        f"{args.runs} sequential calls, {result['cores']} cores"
    )
    rows = [
        ("direct SDK call p50 / p99", "direct_p50_ms", "direct_p99_ms", "ms"),
        ("through visionstudio p50 / p99", "service_p50_ms", "service_p99_ms", "ms"),
        ("added by the service p50 / p99", "added_p50_ms", "added_p99_ms", "ms"),
    ]
    for label, a, b, unit in rows:
        print(f"  {label:34} {result[a]:8.1f} / {result[b]:8.1f} {unit}")
    print(
        f"  {'n=4: first / last image':34} {result['n4_first_image_x']:8.2f} / "
        f"{result['n4_last_image_x']:8.2f} x one image's latency"
    )
    print(json.dumps(result))


if __name__ == "__main__":
    grpc.aio.init_grpc_aio()
    main()
