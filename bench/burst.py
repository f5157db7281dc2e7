"""A burst against limits nobody configured: the adaptive budget learns them from the answers.

The loopback upstream admits LIMIT images per WINDOW seconds (8 per 2 s: a burst of 8, then 4 a
second); the server runs with its default configuration (no budget configured). BURST single
image calls start at once, either after one earlier call (the budget has seen the limits once)
or with nothing learned. Reported: every caller's outcome, the upstream's 429s, and the time
against the ideal (the upstream's own pace: the bucket's burst, then its refill, plus latency).
Usage: python -m bench.burst [--burst 24] [--limit 8] [--window 2] [--json]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from collections import Counter
from dataclasses import asdict, dataclass

import grpc
from visionstudio.client import AsyncImageClient

from bench.stack import CLIENT_KEY, Upstream, processes

LATENCY_S = 0.2


@dataclass(frozen=True)
class Result:
    warmed: bool
    calls: int
    succeeded: int
    caller_errors: dict[str, int]
    upstream_429: int
    seconds: float
    ideal_seconds: float

    @property
    def of_ideal(self) -> float:
        return self.seconds / self.ideal_seconds


async def _call(target: str, errors: Counter[str]) -> bool:
    async with AsyncImageClient(target, CLIENT_KEY) as client:
        try:
            async for _ in client.generate("burst", timeout=120):
                pass
        except grpc.aio.AioRpcError as err:
            errors[err.code().name] += 1
            return False
    return True


async def _run(burst: int, limit: int, window_s: float, warmed: bool) -> Result:
    upstream = Upstream(latency_s=LATENCY_S, images_per_minute=limit, window_s=window_s)
    with processes(upstream) as stack:
        errors: Counter[str] = Counter()
        if warmed:
            await _call(stack.target, errors)
            await asyncio.sleep(window_s)  # the bucket full again: the same start as cold
        refused_before = stack.upstream_stats()["rate_limited"]
        started = time.monotonic()
        outcomes = await asyncio.gather(*(_call(stack.target, errors) for _ in range(burst)))
        seconds = time.monotonic() - started
        refused = stack.upstream_stats()["rate_limited"] - refused_before
    ideal = max(0, burst - limit) * window_s / limit + LATENCY_S
    return Result(warmed, burst, sum(outcomes), dict(errors), refused, seconds, ideal)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--burst", type=int, default=24)
    parser.add_argument("--limit", type=int, default=8, help="images per window upstream")
    parser.add_argument("--window", type=float, default=2.0, help="the window in seconds")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    results = [
        asyncio.run(_run(args.burst, args.limit, args.window, warmed)) for warmed in (True, False)
    ]
    for result in results:
        if args.json:
            print(json.dumps(asdict(result) | {"of_ideal": result.of_ideal}))
            continue
        state = "after one call" if result.warmed else "nothing learned"
        print(
            f"burst of {result.calls} ({state}): {result.succeeded} succeeded, "
            f"errors {result.caller_errors or 0}, upstream 429s {result.upstream_429}, "
            f"{result.seconds:.2f} s = {result.of_ideal:.2f}x the ideal "
            f"{result.ideal_seconds:.2f} s (target <= 1.5x)"
        )


if __name__ == "__main__":
    main()
