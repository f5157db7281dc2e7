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
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager

import grpc
from openai import AsyncOpenAI

from visionstudio.client import AsyncImageClient

MODEL = "gpt-image-2.5-flare"
UPSTREAM_KEY = "sk-bench"
CLIENT_KEY = "bench-key"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_for_port(port: int, timeout_s: float = 30) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise RuntimeError(f"nothing listening on port {port}")


@contextmanager
def _processes(latency_s: float) -> Iterator[tuple[str, int]]:
    upstream_port, grpc_port, http_port = _free_port(), _free_port(), _free_port()
    base_url = f"http://127.0.0.1:{upstream_port}/v1"
    with tempfile.TemporaryDirectory() as data_dir:
        env = {
            **os.environ,
            "OPENAI_BASE_URL": base_url,
            "OPENAI_API_KEY": UPSTREAM_KEY,
            "VISIONSTUDIO_API_KEYS": CLIENT_KEY,
        }
        fake = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "visionstudio.testing.fake_openai",
                "--port",
                str(upstream_port),
                "--latency",
                str(latency_s),
                "--api-key",
                UPSTREAM_KEY,
            ],
            env=env,
            stdout=subprocess.DEVNULL,
        )
        server = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "visionstudio.server.main",
                "--grpc-port",
                str(grpc_port),
                "--http-port",
                str(http_port),
                "--data-dir",
                data_dir,
                "--host",
                "127.0.0.1",
                "--log-level",
                "WARNING",
            ],
            env=env,
        )
        try:
            _wait_for_port(upstream_port)
            _wait_for_port(grpc_port)
            yield base_url, grpc_port
        finally:
            for proc in (server, fake):
                proc.terminate()
                proc.wait(timeout=30)


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


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
    with _processes(latency_s) as (base_url, port):
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
        "direct_p99_ms": _pct(direct, 0.99) * 1000,
        "service_p50_ms": statistics.median(service) * 1000,
        "service_p99_ms": _pct(service, 0.99) * 1000,
        "added_p50_ms": (statistics.median(service) - statistics.median(direct)) * 1000,
        "added_p99_ms": (_pct(service, 0.99) - _pct(direct, 0.99)) * 1000,
        "n4_first_image_x": statistics.median(a[0] for a in four) / one,
        "n4_last_image_x": statistics.median(a[-1] for a in four) / one,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--latency", type=float, default=0.5, help="upstream seconds per image")
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--json", action="store_true", help="print JSON only")
    args = parser.parse_args()
    grpc_verbosity = os.environ.setdefault("GRPC_VERBOSITY", "ERROR")
    del grpc_verbosity
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
