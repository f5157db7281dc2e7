"""Peak server RSS and health latency under #15's memory attack: `--calls` border inpaints
(5%, n=`--images`) of a 130 KB 6300x6300 PNG at once, against a server process.

Usage: python -m bench.attacks [--calls 16 --images 10]  (the issue's figure; minutes on 2 cores)
"""

from __future__ import annotations

import argparse
import asyncio
import json
import tempfile
from pathlib import Path

from tests.fake_openai import FakeOpenAI
from tests.fake_openai.config import FakeOpenAIConfig
from tests.support.attacks import border_flood, peak_rss_mb
from tests.support.harness import UPSTREAM_KEY
from tests.support.processes import KEY, ServerProcess


async def _run(calls: int, images: int) -> dict[str, float]:
    async with FakeOpenAI(FakeOpenAIConfig(api_key=UPSTREAM_KEY)) as upstream:
        with tempfile.TemporaryDirectory() as data:
            # The attack is one key's: room for all its images, so none is refused.
            room = str(calls * images)
            server = ServerProcess(
                upstream.base_url, Path(data), VISIONSTUDIO_PER_KEY_QUEUED_IMAGES=room
            )
            try:
                await server.ready()
                outcome = await border_flood(
                    server.grpc_port, server.http_port, KEY, calls=calls, images=images
                )
                peak = peak_rss_mb(server.proc.pid)
            finally:
                server.kill()
    return {
        "calls": calls,
        "images": outcome.images,
        "peak_rss_mib": round(peak),
        "health_p99_ms": round(outcome.health_p99_ms, 1),
        "health_max_ms": round(max(outcome.health_ms, default=0), 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--calls", type=int, default=16)
    parser.add_argument("--images", type=int, default=10)
    args = parser.parse_args()
    result = asyncio.run(_run(args.calls, args.images))
    print(
        f"memory attack: {result['calls']} border inpaints of 6300x6300, {result['images']} "
        f"images: peak RSS {result['peak_rss_mib']} MiB, health p99 {result['health_p99_ms']} ms "
        f"(max {result['health_max_ms']} ms)"
    )
    print(json.dumps({"memory_attack": result}))


if __name__ == "__main__":
    main()
