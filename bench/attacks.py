"""Peak server RSS and health latency under #15's memory attack: `--calls` border inpaints
(5%, n=`--images`) of a 130 KB 6300x6300 PNG at once, against a server process; then the
body attacks, each against a fresh server: 8 keyed HTTP bodies of 139 MB at once (a prompt
far too long), 16 keyed EditImage calls of 62 MB (refused once received) and 32 keyless
62 MB EditImage calls.

Usage: python -m bench.attacks [--calls 16 --images 10]  (the issue's figure; minutes on 2 cores)
"""

from __future__ import annotations

import argparse
import asyncio
import json
import tempfile
from collections import Counter
from collections.abc import Awaitable, Callable
from pathlib import Path

import grpc
from visionstudio.image.v1 import image_service_pb2 as pb
from visionstudio.image.v1 import image_service_pb2_grpc as pb_grpc

from tests.fake_openai import FakeOpenAI
from tests.fake_openai.config import FakeOpenAIConfig
from tests.support.attacks import Outcome, body_flood, border_flood, message_flood, peak_rss_mb
from tests.support.harness import UPSTREAM_KEY
from tests.support.processes import KEY, ServerProcess

MB = 1_000_000


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


async def _http_bodies(server: ServerProcess) -> dict[str, object]:
    outcome = await body_flood(server.http_port, KEY, count=8, size=139 * MB)
    return {**Counter(str(status) for status in outcome.http_statuses), **_health(outcome)}


async def _keyed_edits(server: ServerProcess) -> dict[str, object]:
    outcome = await message_flood(server.grpc_port, server.http_port, KEY, count=16, size=62 * MB)
    return {**Counter(code.name for code in outcome.codes), **_health(outcome)}


def _health(outcome: Outcome) -> dict[str, object]:
    return {
        "health_p99_ms": round(outcome.health_p99_ms, 1),
        "health_max_ms": round(max(outcome.health_ms, default=0), 1),
    }


async def _keyless_edits(
    server: ServerProcess, count: int = 32, size: int = 62 * MB
) -> dict[str, object]:
    body = pb.EditImageRequest(prompt="x", image_file=b"\0" * size)
    async with grpc.aio.insecure_channel(
        server.target, options=[("grpc.max_send_message_length", -1)]
    ) as channel:
        stub: pb_grpc.ImageServiceAsyncStub = pb_grpc.ImageServiceStub(channel)
        calls = [stub.EditImage(body, metadata=(("x-api-key", "wrong"),)) for _ in range(count)]
        return dict(Counter([(await call.code()).name for call in calls]))


async def _rss_growth(
    upstream_url: str, attack: Callable[[ServerProcess], Awaitable[dict[str, object]]]
) -> dict[str, object]:
    """The attack against a fresh server: its peak RSS before and after, and the answers."""
    with tempfile.TemporaryDirectory() as data:
        server = ServerProcess(upstream_url, Path(data))
        try:
            await server.ready()
            before = peak_rss_mb(server.proc.pid)
            answers = await attack(server)
            after = peak_rss_mb(server.proc.pid)
        finally:
            server.kill()
    return {"peak_rss_mib_before": round(before), "peak_rss_mib": round(after), **answers}


async def _bodies() -> dict[str, dict[str, object]]:
    async with FakeOpenAI(FakeOpenAIConfig(api_key=UPSTREAM_KEY)) as upstream:
        return {
            "http_8x139MB": await _rss_growth(upstream.base_url, _http_bodies),
            "grpc_keyed_16x62MB": await _rss_growth(upstream.base_url, _keyed_edits),
            "grpc_keyless_32x62MB": await _rss_growth(upstream.base_url, _keyless_edits),
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
    bodies = asyncio.run(_bodies())
    for name, figures in bodies.items():
        print(f"body attack {name}: {figures}")
    print(json.dumps({"body_attack": bodies}))


if __name__ == "__main__":
    main()
