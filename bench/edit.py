"""Added latency of an edit with a photo-sized input: sequential EditImage calls through the
service against the same upstream edited directly with the openai SDK (#17's "edit with a 3 MB
input" row). The upstream and the server run in their own processes.

Usage: python -m bench.edit [--latency 0.5] [--runs 20] [--side 1448]
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
from visionstudio.server.prep.images import encode
from visionstudio.server.spec import OutputFormat

from bench.readings import pct
from bench.stack import CLIENT_KEY, MODEL, UPSTREAM_KEY, Upstream, processes
from tests.support import images

PROMPT = "the same lighthouse at night"


async def _direct(base_url: str, photo: bytes, runs: int) -> list[float]:
    client = AsyncOpenAI(api_key=UPSTREAM_KEY, base_url=base_url, max_retries=0)
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        await client.images.edit(
            model=MODEL, image=("image.png", photo, "image/png"), prompt=PROMPT, size="1024x1024"
        )
        times.append(time.perf_counter() - start)
    await client.close()
    return times


async def _via_service(port: int, photo: bytes, runs: int) -> list[float]:
    times = []
    async with AsyncImageClient(f"127.0.0.1:{port}", CLIENT_KEY) as client:
        for _ in range(runs):
            start = time.perf_counter()
            async for event in client.edit(PROMPT, photo, aspect_ratio="1:1"):
                if event.WhichOneof("event") == "image":
                    times.append(time.perf_counter() - start)
    return times


async def _run(latency_s: float, runs: int, side: int) -> dict[str, float]:
    photo = encode(images.photo(side), OutputFormat.PNG)
    with processes(Upstream(latency_s, photographic=True)) as stack:
        base_url, port = stack.upstream_url, stack.grpc_port
        # Warm both paths (connections, imports) before timing.
        await _direct(base_url, photo, 2)
        await _via_service(port, photo, 2)
        direct = await _direct(base_url, photo, runs)
        service = await _via_service(port, photo, runs)
    return {
        "input_mb": len(photo) / 1e6,
        "upstream_latency_s": latency_s,
        "runs": runs,
        "cores": os.cpu_count() or 0,
        "direct_p50_ms": statistics.median(direct) * 1000,
        "service_p50_ms": statistics.median(service) * 1000,
        "added_p50_ms": (statistics.median(service) - statistics.median(direct)) * 1000,
        "added_p99_ms": (pct(service, 0.99) - pct(direct, 0.99)) * 1000,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--latency", type=float, default=0.5, help="upstream seconds per image")
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--side", type=int, default=1448, help="input side (1448: ~3 MB PNG)")
    args = parser.parse_args()
    os.environ.setdefault("GRPC_VERBOSITY", "ERROR")
    result = asyncio.run(_run(args.latency, args.runs, args.side))
    print(
        f"edit, {result['input_mb']:.2f} MB photographic PNG input, upstream latency "
        f"{args.latency * 1000:.0f} ms/image, {args.runs} sequential calls, {result['cores']} cores"
    )
    print(f"  direct SDK edit p50          {result['direct_p50_ms']:8.1f} ms")
    print(f"  through visionstudio p50     {result['service_p50_ms']:8.1f} ms")
    print(
        f"  added p50 / p99              {result['added_p50_ms']:8.1f} / "
        f"{result['added_p99_ms']:.1f} ms"
    )
    print(json.dumps(result))


if __name__ == "__main__":
    grpc.aio.init_grpc_aio()
    main()
